#include "squashfs_writer.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>

#include "cocoon/child_process.h"
#include "cocoon/error.h"
#include "cocoon/log.h"
#include "cocoon/unique_fd.h"
#include "util/safe_dir.h"
#include "util/sys.h"

namespace cocoon {

namespace {

std::string last_line(std::string text)
{
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    auto newline = text.find_last_of('\n');
    return newline == std::string::npos ? text : text.substr(newline + 1);
}

} // namespace

void write_squashfs(const std::vector<Layer>& layers, const std::string& output,
                    const Config& config, LayerArrivals* arrivals)
{
    if (access(config.tar2sqfs.c_str(), X_OK) != 0)
        fail("the squashfs writer {} is not installed (package squashfs-tools-ng; cocoon.yaml "
             "key tar2sqfs)",
             config.tar2sqfs);
    // Checked on its descriptor: nobody but root (or the user) can have replaced it.
    UniqueFd program = sys::open_trusted_program(config.tar2sqfs,
                                                 "the squashfs writer (cocoon.yaml key tar2sqfs)");
    int data[2];
    int errors[2];
    if (pipe2(data, O_CLOEXEC) != 0 || pipe2(errors, O_CLOEXEC) != 0)
        throw_errno("pipe");
    UniqueFd data_read(data[0]), data_write(data[1]);
    UniqueFd errors_read(errors[0]), errors_write(errors[1]);

    std::string jobs = std::to_string(sys::usable_cpus());
    ChildProcess writer = ChildProcess::start({
        .program_fd = program.get(),
        .argv = {config.tar2sqfs, "--quiet", "--no-skip", "--compressor", "zstd", "--comp-extra",
                 "level=3", "--num-jobs", jobs, output},
        .envp = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
        .descriptors = {{data_read.get(), 0}, {errors_write.get(), 2}},
    });
    data_read.reset();
    errors_write.reset();

    // tar2sqfs may stop reading early (disk full): its message matters more than EPIPE.
    std::optional<Error> merge_error;
    try {
        merge_layers(layers, data_write.get(), layer_limits(config), arrivals);
    } catch (const Error& e) {
        merge_error = e;
    }
    bool reader_gave_up = merge_error && merge_error->error_number() == EPIPE;
    // A failed merge leaves a cut-off stream that tar2sqfs might take for a complete one:
    // stop it before it sees the end of its input.
    if (merge_error && !reader_gave_up)
        writer.kill();
    data_write.reset();
    std::string messages = sys::read_file(errors_read.get(), 1 << 20);
    int status = writer.wait();
    bool writer_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    // The user's message gets the last line; the admin's log gets all of it.
    log_output(writer_ok ? LogLevel::Debug : LogLevel::Info, "tar2sqfs", messages);
    if (merge_error && (writer_ok || !reader_gave_up))
        throw *merge_error;
    if (!writer_ok)
        fail("tar2sqfs could not write {}: {}", output,
             messages.empty() ? "it failed without a message" : last_line(messages));
}

} // namespace cocoon
