#include "squashfs_writer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

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

[[noreturn]] void exec_writer(const std::string& tar2sqfs, int program_fd,
                              const std::string& output, int input_fd, int stderr_fd)
{
    int null_fd = open("/dev/null", O_WRONLY);
    int program_tmp = fcntl(program_fd, F_DUPFD, 10);
    // The program's descriptor (3) is close-on-exec: tar2sqfs does not inherit it.
    if (null_fd < 0 || program_tmp < 0 || dup2(input_fd, 0) < 0 || dup2(null_fd, 1) < 0 ||
        dup2(stderr_fd, 2) < 0 || dup3(program_tmp, 3, O_CLOEXEC) < 0)
        _exit(126);
    close_range(4, ~0U, 0);
    std::string jobs = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
    const char* argv[] = {tar2sqfs.c_str(), "--quiet", "--no-skip", "--compressor", "zstd",
                          "--comp-extra", "level=3", "--num-jobs", jobs.c_str(), output.c_str(), nullptr};
    const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", nullptr};
    syscall(SYS_execveat, 3, "", const_cast<char* const*>(argv), const_cast<char* const*>(envp),
            AT_EMPTY_PATH);
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
    // Checked on its descriptor: nobody but root (or the user) can have replaced it.
    UniqueFd program = sys::open_trusted_program(
        config.tar2sqfs, "the squashfs writer (cocoon.yaml key tar2sqfs)");
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
        exec_writer(config.tar2sqfs, program.get(), output, data_read.get(), errors_write.get());
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
    // The user's message gets the last line; the admin's log gets all of it.
    log_output(writer_ok ? LogLevel::Debug : LogLevel::Info, "tar2sqfs", messages);
    if (!merge_error.empty() && (writer_ok || merge_error.find("Broken pipe") == std::string::npos))
        throw Error(merge_error);
    if (!writer_ok)
        fail("tar2sqfs could not write {}: {}", output,
             messages.empty() ? "it failed without a message" : last_line(messages));
}

} // namespace cocoon
