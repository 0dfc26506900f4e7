#include "cocoon/child_process.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "cocoon/error.h"

namespace cocoon {

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
    ChildProcess child = run([&]() -> int {
        exec_child(spec.program_fd, spec.descriptors.data(), spec.descriptors.size(), highest,
                   argv.data(), envp.data());
    });
    if (!child.running())
        throw_errno("cannot start " +
                    (spec.argv.empty() ? std::string("a program") : spec.argv[0]));
    return child;
}

ChildProcess ChildProcess::adopt(pid_t pid) noexcept
{
    ChildProcess child;
    child.pid_ = pid;
    // The pid stays ours until we reap it, so the pidfd cannot name another process.
    int saved = errno;
    child.pidfd_ = UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    errno = saved;
    return child;
}

ChildProcess ChildProcess::run_function(int (*body)(void*) noexcept, void* context) noexcept
{
    pid_t pid = fork();
    if (pid < 0)
        return {};
    if (pid == 0)
        _exit(body(context));
    return adopt(pid);
}

namespace {

// What a spawned child needs, on the parent's stack (the parent waits until it is done).
struct SpawnContext {
    int (*body)(void*) noexcept;
    void* context;
    sigset_t mask; // the calling thread's, restored in the child
};

int spawned_child(void* argument) noexcept
{
    auto* spawn = static_cast<SpawnContext*>(argument);
    // The handlers are the parent's code, working on the parent's memory: none may run here.
    for (int sig = 1; sig < NSIG; ++sig) {
        struct sigaction action = {};
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, nullptr, &action) != 0)
            continue;
        if (action.sa_handler != SIG_IGN && action.sa_handler != SIG_DFL) {
            action = {};
            action.sa_handler = SIG_DFL;
            sigaction(sig, &action, nullptr);
        }
    }
    pthread_sigmask(SIG_SETMASK, &spawn->mask, nullptr);
    _exit(spawn->body(spawn->context));
}

// The spawned child's stack: its code stays on the holder's path (a few frames and a
// formatted message), far below this.
constexpr size_t spawn_stack_bytes = 256 << 10;

} // namespace

ChildProcess ChildProcess::spawn_function(int (*body)(void*) noexcept, void* context) noexcept
{
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* stack = mmap(nullptr, spawn_stack_bytes + page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return {};
    // The lowest page stays inaccessible: an overflow faults instead of writing below.
    mprotect(stack, page, PROT_NONE);
    SpawnContext spawn{body, context, {}};
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &spawn.mask);
    // Returns once the child has executed a program or exited (CLONE_VFORK).
    pid_t pid = clone(spawned_child, static_cast<char*>(stack) + page + spawn_stack_bytes,
                      CLONE_VM | CLONE_VFORK | SIGCHLD, &spawn);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &spawn.mask, nullptr);
    munmap(stack, spawn_stack_bytes + page);
    errno = saved;
    if (pid < 0)
        return {};
    return adopt(pid);
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

std::optional<int> ChildProcess::wait_for(int timeout_ms) noexcept
{
    if (pid_ <= 0)
        return 0;
    if (pidfd_.valid()) {
        // A pidfd is readable once the process has ended.
        struct pollfd ended = {pidfd_.get(), POLLIN, 0};
        if (poll(&ended, 1, timeout_ms) <= 0) // also EINTR: the caller asks again
            return std::nullopt;
    }
    int status = 0;
    pid_t rc;
    while ((rc = waitpid(pid_, &status, pidfd_.valid() ? 0 : WNOHANG)) < 0 && errno == EINTR) {
    }
    if (rc == 0) { // no pidfd (an old kernel): poll by hand
        usleep(static_cast<useconds_t>(std::min(timeout_ms, 10)) * 1000);
        return std::nullopt;
    }
    pid_ = -1;
    pidfd_.reset();
    return status;
}

pid_t ChildProcess::release() noexcept
{
    pidfd_.reset();
    return std::exchange(pid_, -1);
}

int ChildProcess::exit_code(int status) noexcept
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

int ChildProcess::kill() noexcept
{
    if (pid_ <= 0)
        return 0;
    if (pidfd_.valid())
        syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
    else
        ::kill(pid_, SIGKILL);
    return wait();
}

} // namespace cocoon
