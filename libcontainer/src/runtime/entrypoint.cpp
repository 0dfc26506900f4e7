#include "entrypoint.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <optional>

#include "cocoon/child_process.h"
#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
#include "util/sys.h"

extern char** environ;

namespace cocoon {

namespace {

std::map<std::string, std::string> as_map(const std::vector<std::string>& environment)
{
    std::map<std::string, std::string> map;
    for (const auto& entry : environment) {
        auto eq = entry.find('=');
        if (eq != std::string::npos && eq > 0)
            map[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    return map;
}

// The descriptor on which the final `env -0` writes the environment: the entrypoint's own
// stdout and stderr go to its log (or /dev/null), never into the environment.
constexpr int environment_fd = 3;

[[noreturn]] void exec_entrypoint(const ImageConfig& image, const ContainerSpec& spec,
                                  std::vector<std::string> input, int out_fd, int log_fd,
                                  const SeccompProgram& filter)
{
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    int output = log_fd >= 0 ? log_fd : null_fd;
    // Out of the way of 0-3 first, so that no dup2 below overwrites a descriptor still needed.
    int environment = fcntl(out_fd, F_DUPFD_CLOEXEC, 10);
    output = fcntl(output, F_DUPFD_CLOEXEC, 10);
    if (null_fd < 0 || environment < 0 || output < 0 || dup2(null_fd, 0) < 0 ||
        dup2(output, 1) < 0 || dup2(output, 2) < 0 || dup2(environment, environment_fd) < 0)
        _exit(126);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        _exit(126);
    try {
        filter.load();
    } catch (const Error&) {
        _exit(126);
    }
    if (spec.workdir.empty() || chdir(spec.workdir.c_str()) != 0)
        if (image.working_dir.empty() || chdir(image.working_dir.c_str()) != 0)
            (void)!chdir("/");
    std::vector<std::string> args = image.entrypoint;
    for (const char* arg : {"/bin/sh", "-c", "exec env -0 >&3"})
        args.emplace_back(arg);
    std::vector<char*> argv;
    for (auto& arg : args)
        argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& entry : input)
        envp.push_back(entry.data());
    envp.push_back(nullptr);
    environ = envp.data(); // execvp looks the entrypoint up in the PATH it will see
    execvp(argv[0], argv.data());
    _exit(127);
}

} // namespace

std::vector<std::string> entrypoint_input(const ImageConfig& image, const ContainerSpec& spec)
{
    auto job = as_map(spec.environment);
    auto lookup = [&job](const std::string& name) -> std::optional<std::string> {
        auto it = job.find(name);
        return it == job.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    for (const auto& [name, value] : image_environment(image, lookup, spec.keep_environment))
        job[name] = value;
    std::vector<std::string> input;
    for (const auto& [name, value] : job)
        input.push_back(name + "=" + value);
    return input;
}

std::vector<std::string> run_entrypoint(const ImageConfig& image, const ContainerSpec& spec,
                                        const std::vector<std::string>& input,
                                        const Config::Seccomp& seccomp, std::string* log)
{
    // The entrypoint is image code like a task's command: the same filter, compiled here
    // and installed in the child just before it is executed.
    SeccompProgram filter(seccomp);
    int output[2];
    if (pipe2(output, O_CLOEXEC) != 0)
        throw_errno("pipe");
    UniqueFd read_end(output[0]), write_end(output[1]);
    // A memory file, not a pipe: the entrypoint may print more than a pipe holds before the
    // environment is read, and only the first max_entrypoint_log bytes are kept.
    UniqueFd log_file;
    if (log) {
        log_file = UniqueFd(memfd_create("cocoon-entrypoint-log", MFD_CLOEXEC));
        if (!log_file.valid())
            throw_errno("cannot keep the entrypoint's output");
    }
    // Not ChildProcess::start: the child loads the seccomp filter and changes directory
    // between fork and exec (in the holder program, which has no threads).
    ChildProcess child = ChildProcess::run([&]() -> int {
        exec_entrypoint(image, spec, input, write_end.get(), log_file.get(), filter);
    });
    if (!child.running())
        throw_errno("cannot start the image entrypoint");
    write_end.reset();
    std::string text;
    std::optional<int> killed;
    try {
        text = sys::read_file(read_end.get(), 4 << 20);
    } catch (const Error&) {
        killed = child.kill();
    }
    int status = killed ? *killed : child.wait();
    if (log) {
        log->assign(max_entrypoint_log, '\0');
        ssize_t n = pread(log_file.get(), log->data(), log->size(), 0);
        log->resize(n > 0 ? static_cast<size_t>(n) : 0);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("the image entrypoint {} failed ({}; it must end by running its arguments, "
             "e.g. exec \"$@\")",
             image.entrypoint.front(),
             WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                               : fmt::format("signal {}", WTERMSIG(status)));
    std::vector<std::string> environment;
    size_t start = 0;
    for (size_t end = text.find('\0'); end != std::string::npos; end = text.find('\0', start)) {
        environment.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return environment;
}

std::vector<std::pair<std::string, std::string>>
environment_changes(const std::vector<std::string>& before, const std::vector<std::string>& after)
{
    auto old_values = as_map(before);
    std::vector<std::pair<std::string, std::string>> changes;
    for (const auto& [name, value] : as_map(after)) {
        auto it = old_values.find(name);
        if (it == old_values.end() || it->second != value)
            changes.emplace_back(name, value);
    }
    return changes;
}

} // namespace cocoon
