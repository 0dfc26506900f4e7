#include "squashfs_writer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
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

[[noreturn]] void exec_writer(const std::string& tar2sqfs, const std::string& output,
                              int input_fd, int stderr_fd)
{
    int null_fd = open("/dev/null", O_WRONLY);
    if (null_fd < 0 || dup2(input_fd, 0) < 0 || dup2(null_fd, 1) < 0 || dup2(stderr_fd, 2) < 0)
        _exit(126);
    close_range(3, ~0U, 0);
    std::string jobs = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
    const char* argv[] = {tar2sqfs.c_str(), "--quiet", "--no-skip", "--compressor", "zstd",
                          "--comp-extra", "level=3", "--num-jobs", jobs.c_str(), output.c_str(), nullptr};
    const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", nullptr};
    execve(tar2sqfs.c_str(), const_cast<char* const*>(argv), const_cast<char* const*>(envp));
    _exit(127);
}

} // namespace

void write_squashfs(const std::vector<Layer>& layers, const std::string& output,
                    const Config& config)
{
    if (access(config.tar2sqfs.c_str(), X_OK) != 0)
        fail("the squashfs writer {} is not installed (package squashfs-tools-ng; cocoon.yaml "
             "key tar2sqfs)",
             config.tar2sqfs);
    int data[2];
    int errors[2];
    if (pipe2(data, O_CLOEXEC) != 0 || pipe2(errors, O_CLOEXEC) != 0)
        throw_errno("pipe");
    UniqueFd data_read(data[0]), data_write(data[1]);
    UniqueFd errors_read(errors[0]), errors_write(errors[1]);

    pid_t writer = fork();
    if (writer < 0)
        throw_errno("cannot start tar2sqfs");
    if (writer == 0)
        exec_writer(config.tar2sqfs, output, data_read.get(), errors_write.get());
    data_read.reset();
    errors_write.reset();

    // tar2sqfs may stop reading early (disk full): its message matters more than EPIPE.
    std::string merge_error;
    try {
        merge_layers(layers, data_write.get(), layer_limits(config));
    } catch (const std::exception& e) {
        merge_error = e.what();
    }
    // A failed merge leaves a cut-off stream that tar2sqfs might take for a complete one:
    // stop it before it sees the end of its input.
    if (!merge_error.empty() && merge_error.find("Broken pipe") == std::string::npos)
        kill(writer, SIGKILL);
    data_write.reset();
    std::string messages = sys::read_file(errors_read.get(), 1 << 20);
    int status = 0;
    while (waitpid(writer, &status, 0) < 0 && errno == EINTR) {
    }
    bool writer_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!merge_error.empty() && (writer_ok || merge_error.find("Broken pipe") == std::string::npos))
        throw Error(merge_error);
    if (!writer_ok)
        fail("tar2sqfs could not write {}: {}", output,
             messages.empty() ? "it failed without a message" : last_line(messages));
}

} // namespace cocoon
