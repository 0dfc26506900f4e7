#include <gtest/gtest.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <stdexcept>
#include <string>

#include "cocoon/child_process.h"
#include "cocoon/unique_fd.h"
#include "util/sys.h"

using cocoon::ChildProcess;
using cocoon::UniqueFd;

namespace {

UniqueFd open_shell()
{
    return UniqueFd(open("/bin/sh", O_PATH | O_CLOEXEC));
}

struct Pipe {
    UniqueFd read, write;
    Pipe()
    {
        int fds[2];
        EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
        read = UniqueFd(fds[0]);
        write = UniqueFd(fds[1]);
    }
};

// Runs `sh -c SCRIPT` with its stdout on a pipe plus `extra` descriptors; returns what it
// printed and its wait status.
std::pair<std::string, int> shell(const std::string& script,
                                  std::vector<std::pair<int, int>> extra = {})
{
    UniqueFd sh = open_shell();
    Pipe out;
    extra.emplace_back(out.write.get(), 1);
    auto child = ChildProcess::start({.program_fd = sh.get(),
                                      .argv = {"sh", "-c", script},
                                      .envp = {"A=b"},
                                      .descriptors = extra});
    out.write.reset();
    std::string text = cocoon::sys::read_file(out.read.get(), 1 << 16);
    return {text, child.wait()};
}

} // namespace

TEST(ChildProcess, RunsTheProgramWithItsArgumentsAndEnvironment)
{
    auto [text, status] = shell("echo \"$0 $A\"; exit 3");
    EXPECT_EQ(text, "sh b\n");
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 3);
}

TEST(ChildProcess, TheChildGetsOnlyTheDescriptorsItWasGiven)
{
    UniqueFd stray(open("/dev/null", O_RDONLY)); // not close-on-exec: must still not leak
    Pipe extra;
    auto [text, status] =
        shell("ls /proc/self/fd | sort -n | tr '\\n' ' '; echo >&4 x", {{extra.write.get(), 4}});
    // 0-2, the extra descriptor at 4, and the one ls opens to read the directory (3).
    EXPECT_EQ(text, "0 1 2 3 4 ");
    extra.write.reset();
    EXPECT_EQ(cocoon::sys::read_file(extra.read.get(), 16), "x\n");
    EXPECT_EQ(status, 0);
}

TEST(ChildProcess, DescriptorsThatTradePlacesArriveWhereAsked)
{
    // The source of target 1 is placed at 4, and that of 4 at 1: neither may be lost.
    Pipe a, b;
    int at_one = a.write.get();
    int at_four = b.write.get();
    UniqueFd sh = open_shell();
    auto child = ChildProcess::start({.program_fd = sh.get(),
                                      .argv = {"sh", "-c", "echo one; echo four >&4"},
                                      .envp = {},
                                      .descriptors = {{at_one, 1}, {at_four, 4}}});
    a.write.reset();
    b.write.reset();
    EXPECT_EQ(cocoon::sys::read_file(a.read.get(), 16), "one\n");
    EXPECT_EQ(cocoon::sys::read_file(b.read.get(), 16), "four\n");
    EXPECT_EQ(child.wait(), 0);
}

TEST(ChildProcess, AProgramThatCannotBeExecutedExitsWith127)
{
    UniqueFd not_a_program(open("/etc/passwd", O_PATH | O_CLOEXEC));
    auto child = ChildProcess::start(
        {.program_fd = not_a_program.get(), .argv = {"x"}, .envp = {}, .descriptors = {}});
    int status = child.wait();
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 127);
}

TEST(ChildProcess, TheDestructorKillsAndReapsARunningChild)
{
    pid_t pid = -1;
    {
        UniqueFd sh = open_shell();
        auto child = ChildProcess::start({.program_fd = sh.get(),
                                          .argv = {"sh", "-c", "exec sleep 100"},
                                          .envp = {},
                                          .descriptors = {}});
        pid = child.pid();
        ASSERT_EQ(kill(pid, 0), 0);
    }
    // Reaped, not a zombie: the pid no longer exists for us.
    EXPECT_EQ(kill(pid, 0), -1);
    EXPECT_EQ(errno, ESRCH);
}

TEST(ChildProcess, RunCallsTheFunctionInTheChildAndExitsWithItsResult)
{
    Pipe out;
    int fd = out.write.get();
    auto child = ChildProcess::run([fd] {
        (void)!write(fd, "child", 5);
        return 7;
    });
    ASSERT_TRUE(child.running());
    out.write.reset();
    EXPECT_EQ(cocoon::sys::read_file(out.read.get(), 16), "child");
    int status = child.wait();
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 7);
    EXPECT_FALSE(child.running());
}

TEST(ChildProcess, AFunctionThatThrowsExitsWith125)
{
    auto child = ChildProcess::run([]() -> int { throw std::runtime_error("in the child"); });
    EXPECT_EQ(ChildProcess::exit_code(child.wait()), 125);
}

TEST(ChildProcess, WaitForReturnsNothingWhileTheChildRunsThenItsStatus)
{
    Pipe go;
    int fd = go.read.get();
    auto child = ChildProcess::run([fd] {
        char byte;
        return read(fd, &byte, 1) == 1 ? 4 : 5;
    });
    EXPECT_FALSE(child.wait_for(0).has_value());
    EXPECT_TRUE(child.running());
    ASSERT_EQ(write(go.write.get(), "x", 1), 1);
    std::optional<int> status;
    while (!status)
        status = child.wait_for(1000);
    EXPECT_EQ(ChildProcess::exit_code(*status), 4);
    EXPECT_FALSE(child.running());
}

TEST(ChildProcess, ExitCodeIsTheStatusOr128PlusTheSignal)
{
    auto killed = ChildProcess::run([] {
        raise(SIGTERM);
        return 0;
    });
    EXPECT_EQ(ChildProcess::exit_code(killed.wait()), 128 + SIGTERM);
    auto exited = ChildProcess::run([] { return 42; });
    EXPECT_EQ(ChildProcess::exit_code(exited.wait()), 42);
}

TEST(ChildProcess, AReleasedChildIsNeitherKilledNorWaitedFor)
{
    Pipe go;
    int fd = go.read.get();
    pid_t pid = -1;
    {
        auto child = ChildProcess::run([fd] {
            char byte;
            return read(fd, &byte, 1) == 1 ? 0 : 1;
        });
        pid = child.release();
        EXPECT_FALSE(child.running());
    }
    // Still there after its owner went, and still this process's child to reap by hand.
    EXPECT_EQ(kill(pid, 0), 0);
    ASSERT_EQ(write(go.write.get(), "x", 1), 1);
    int status = -1;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_EQ(status, 0);
}

TEST(ChildProcess, SpawnSharesMemoryAndReturnsOnceTheChildHasExited)
{
    int seen = 0;
    auto child = ChildProcess::spawn([&seen] {
        seen = 42; // the parent's variable: the memory is shared
        return 3;
    });
    ASSERT_TRUE(child.running());
    // The calling thread waited for the child to exit (or execute) before going on.
    EXPECT_EQ(seen, 42);
    EXPECT_EQ(ChildProcess::exit_code(child.wait()), 3);
}

TEST(ChildProcess, ASpawnedChildExecutesAProgramAndThrowsLikeARunOne)
{
    Pipe out;
    int fd = out.write.get();
    UniqueFd shell_fd = open_shell();
    int program = shell_fd.get();
    char arg0[] = "sh", arg1[] = "-c", arg2[] = "echo spawned; exit 5";
    char* argv[] = {arg0, arg1, arg2, nullptr};
    char* envp[] = {nullptr};
    auto child = ChildProcess::spawn([fd, program, &argv, &envp] {
        dup2(fd, 1);
        syscall(SYS_execveat, program, "", argv, envp, AT_EMPTY_PATH);
        return 127;
    });
    ASSERT_TRUE(child.running());
    out.write.reset();
    EXPECT_EQ(cocoon::sys::read_file(out.read.get(), 64), "spawned\n");
    EXPECT_EQ(ChildProcess::exit_code(child.wait()), 5);

    auto thrower = ChildProcess::spawn([]() -> int { throw std::runtime_error("in the child"); });
    EXPECT_EQ(ChildProcess::exit_code(thrower.wait()), 125);
}

volatile sig_atomic_t handler_ran = 0;

TEST(ChildProcess, ASpawnedChildRunsNoneOfTheParentsSignalHandlers)
{
    struct sigaction action = {}, saved = {};
    action.sa_handler = [](int) { handler_ran = 1; };
    ASSERT_EQ(sigaction(SIGUSR1, &action, &saved), 0);
    sigset_t before, after;
    pthread_sigmask(SIG_SETMASK, nullptr, &before);
    // kill(getpid()) by raw calls: glibc's raise() signals the thread it believes it is,
    // the parent's. The handler would set the flag in the shared memory; the default
    // action ends the child instead.
    auto child = ChildProcess::spawn([] {
        syscall(SYS_kill, syscall(SYS_getpid), SIGUSR1);
        return 0;
    });
    ASSERT_TRUE(child.running());
    EXPECT_EQ(ChildProcess::exit_code(child.wait()), 128 + SIGUSR1);
    EXPECT_EQ(handler_ran, 0);
    // The parent's handler and signal mask are as they were.
    struct sigaction now = {};
    ASSERT_EQ(sigaction(SIGUSR1, &saved, &now), 0);
    EXPECT_EQ(now.sa_handler, action.sa_handler);
    pthread_sigmask(SIG_SETMASK, nullptr, &after);
    for (int sig = 1; sig < NSIG; ++sig)
        EXPECT_EQ(sigismember(&before, sig), sigismember(&after, sig)) << "signal " << sig;
}
