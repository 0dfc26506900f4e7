#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "cocoon/unique_fd.h"
#include "util/child_process.h"
#include "util/sys.h"

using cocoon::UniqueFd;
using cocoon::sys::ChildProcess;

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
