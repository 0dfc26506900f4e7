#include "util/child_process.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "cocoon/error.h"

namespace cocoon::sys {

namespace {

// Pointers into the strings of a Spec, taken before fork.
std::vector<char*> pointers(const std::vector<std::string>& strings)
{
    std::vector<char*> result;
    result.reserve(strings.size() + 1);
    for (const auto& s : strings)
        result.push_back(const_cast<char*>(s.c_str()));
    result.push_back(nullptr);
    return result;
}

// In the child, between fork and exec: async-signal-safe calls only, no allocation.
[[noreturn]] void exec_child(int program_fd, const std::pair<int, int>* descriptors, size_t count,
                             int highest, char* const* argv, char* const* envp)
{
    // Lift every source above all targets first, so that placing one cannot overwrite
    // another that is still to be placed; the program's descriptor as well.
    int floor = std::max(highest + 1, 3);
    int lifted[64];
    if (count > 64)
        _exit(126);
    for (size_t i = 0; i < count; ++i)
        if ((lifted[i] = fcntl(descriptors[i].first, F_DUPFD_CLOEXEC, floor)) < 0)
            _exit(126);
    int program = fcntl(program_fd, F_DUPFD_CLOEXEC, floor);
    if (program < 0)
        _exit(126);
    bool placed[3] = {false, false, false};
    for (size_t i = 0; i < count; ++i) {
        if (dup2(lifted[i], descriptors[i].second) < 0)
            _exit(126);
        if (descriptors[i].second < 3)
            placed[descriptors[i].second] = true;
    }
    int null_fd = -1;
    for (int fd = 0; fd < 3; ++fd) {
        if (placed[fd])
            continue;
        if (null_fd < 0 && (null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
            _exit(126);
        if (dup2(null_fd, fd) < 0)
            _exit(126);
    }
    // Everything above the targets closes on exec: the lifted copies, the program's
    // descriptor (needed by execveat itself) and whatever the parent had open.
    if (syscall(SYS_close_range, floor, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
        _exit(126);
    for (int fd = 3; fd < floor; ++fd) {
        bool wanted = false;
        for (size_t i = 0; i < count; ++i)
            wanted = wanted || descriptors[i].second == fd;
        if (!wanted)
            close(fd);
    }
    syscall(SYS_execveat, program, "", argv, envp, AT_EMPTY_PATH);
    _exit(127);
}

} // namespace

ChildProcess ChildProcess::start(const Spec& spec)
{
    std::vector<char*> argv = pointers(spec.argv);
    std::vector<char*> envp = pointers(spec.envp);
    int highest = 2;
    for (const auto& [from, to] : spec.descriptors)
        highest = std::max(highest, to);
    ChildProcess child;
    child.pid_ = fork();
    if (child.pid_ < 0)
        throw_errno("cannot start " +
                    (spec.argv.empty() ? std::string("a program") : spec.argv[0]));
    if (child.pid_ == 0)
        exec_child(spec.program_fd, spec.descriptors.data(), spec.descriptors.size(), highest,
                   argv.data(), envp.data());
    // The pid stays ours until we reap it, so the pidfd cannot name another process.
    child.pidfd_ = UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, child.pid_, 0)));
    return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1))
    , pidfd_(std::move(other.pidfd_))
{}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept
{
    kill();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    return *this;
}

ChildProcess::~ChildProcess()
{
    kill();
}

int ChildProcess::wait() noexcept
{
    int status = 0;
    if (pid_ <= 0)
        return status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    pidfd_.reset();
    return status;
}

void ChildProcess::kill() noexcept
{
    if (pid_ <= 0)
        return;
    if (pidfd_.valid())
        syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
    else
        ::kill(pid_, SIGKILL);
    wait();
}

} // namespace cocoon::sys
