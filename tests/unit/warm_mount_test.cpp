// Warm image mounts: the key the plugin accepts from a holder, and the lease count of an
// image holder, with a real child process serving leases (runtime/image_holder_program.cpp)
// and the plugin's side (lease_warm_mount) taking them through pidfd_getfd.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>

#include "cocoon/error.h"
#include "cocoon/named_container.h"
#include "cocoon/warm_mount.h"
#include "runtime/warm_mount_internal.h"

using namespace cocoon;

namespace {

// A child that serves leases like an image holder, lingering `linger` seconds, and gives
// `inner` (-1: none) to a step that asks for its inner user namespace; with `lower`, also
// writable roots over that directory, mounted in a private mount namespace of its own.
pid_t start_lease_server(uint64_t linger, int inner = -1, const std::string& lower = {},
                         const std::string& staging = {})
{
    int ready[2];
    if (pipe(ready) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        try {
            UniqueFd receiver = make_lease_socket();
            std::optional<OverlayPool> overlays;
            if (!lower.empty()) {
                if (unshare(CLONE_NEWNS) != 0 ||
                    mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
                    _exit(1);
                overlays.emplace(lower, staging);
            }
            (void)!write(ready[1], "r", 1);
            close(ready[1]);
            serve_leases(receiver.get(), linger, inner, overlays ? &*overlays : nullptr);
        } catch (...) {
            _exit(1);
        }
        _exit(0);
    }
    close(ready[1]);
    char byte = 0;
    if (read(ready[0], &byte, 1) != 1)
        pid = -1;
    close(ready[0]);
    return pid;
}

int exit_status(pid_t pid)
{
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool running(pid_t pid)
{
    return waitpid(pid, nullptr, WNOHANG) == 0;
}

// The image a warm mount stands in for: never mounted here.
class UnusedImage final : public ImageSource {
public:
    void mount(const std::string&) override {}
    void stop() noexcept override {}
    std::string config() const override { return "{}"; }
    std::string mount_identity() const override { return "1-2-3-4"; }
};

ino_t inode_of(int fd)
{
    struct stat st {};
    return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

} // namespace

TEST(WarmMount, Keys)
{
    EXPECT_TRUE(valid_warm_mount_key("803-1a2b-1000-6752f1c0"));
    EXPECT_TRUE(valid_warm_mount_key(std::string(80, 'a')));
    const std::string refused[] = {
        "", "../x", "ABC", "a b", "a/b", "a\nb", std::string(81, 'a'), std::string("a\0b", 3)};
    for (const auto& key : refused)
        EXPECT_FALSE(valid_warm_mount_key(key)) << key;
}

// Each lease keeps the server; when the last one closes it lingers, then exits.
TEST(WarmMount, LeasesKeepTheImageHolder)
{
    pid_t server = start_lease_server(1);
    ASSERT_GT(server, 0);
    auto start = process_start_time(server);
    std::optional<WarmMount> first(lease_warm_mount(server, start));
    std::optional<WarmMount> second(lease_warm_mount(server, start));
    EXPECT_TRUE(first->user.valid());
    EXPECT_TRUE(first->mnt.valid());
    first.reset();
    // One lease is still held: well past the linger time, the server is still there.
    sleep(2);
    EXPECT_TRUE(running(server));
    second.reset();
    EXPECT_EQ(exit_status(server), 0);
}

TEST(WarmMount, NoLeaseFromAnEndedOrOtherProcess)
{
    pid_t server = start_lease_server(0);
    ASSERT_GT(server, 0);
    auto start = process_start_time(server);
    // A start time that is not the recorded one: another process with that pid.
    EXPECT_NE(std::string([&] {
                  try {
                      lease_warm_mount(server, start + 1);
                  } catch (const Error& e) {
                      return std::string(e.what());
                  }
                  return std::string();
              }())
                  .find("has ended"),
              std::string::npos);
    // With no lease and no linger time it ends at once; then no lease is given.
    EXPECT_EQ(exit_status(server), 0);
    EXPECT_THROW(lease_warm_mount(server, start), Error);
}

// A process without a lease socket at the agreed descriptor gives none.
TEST(WarmMount, NoLeaseFromAProcessWithoutTheSocket)
{
    pid_t child = fork();
    if (child == 0) {
        close(warm_lease_fd);
        pause();
        _exit(0);
    }
    ASSERT_GT(child, 0);
    EXPECT_THROW(lease_warm_mount(child, process_start_time(child)), Error);
    kill(child, SIGKILL);
    exit_status(child);
}

// A step on a warm mount takes the image holder's inner user namespace (here: any
// descriptor the server was given) instead of making its own, through its lease; every
// step gets the same one.
TEST(WarmMount, StepsTakeTheImageHoldersInnerUserNamespace)
{
    UniqueFd inner(open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(inner.valid());
    pid_t server = start_lease_server(1, inner.get());
    ASSERT_GT(server, 0);
    auto start = process_start_time(server);
    UnusedImage image;
    for (int step = 0; step < 2; ++step) {
        WarmMount lease = lease_warm_mount(server, start);
        WarmImage warm(image, UniqueFd(), std::move(lease.lease));
        UniqueFd given = warm.inner_user_namespace();
        ASSERT_TRUE(given.valid()) << "step " << step;
        EXPECT_EQ(inode_of(given.get()), inode_of(inner.get()));
    }
    EXPECT_EQ(exit_status(server), 0);
}

// Without one (a read-only container's image holder), the step is told so at once and
// makes its own.
TEST(WarmMount, NoInnerUserNamespaceFromAnImageHolderWithoutOne)
{
    pid_t server = start_lease_server(1);
    ASSERT_GT(server, 0);
    {
        WarmMount lease = lease_warm_mount(server, process_start_time(server));
        UnusedImage image;
        WarmImage warm(image, UniqueFd(), std::move(lease.lease));
        EXPECT_FALSE(warm.inner_user_namespace().valid());
    }
    EXPECT_EQ(exit_status(server), 0);
}

// A writable step on a warm mount takes its root from the image holder: the one an earlier
// step left as its setup made it (here: a mount point), never one written to after the
// setup, even at once (the step waits until the image holder has taken its snapshot).
TEST(WarmMount, StepsTakeAKeptWritableRootOnlyWhileUnchanged)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root (overlay mounts)";
    namespace fs = std::filesystem;
    std::string base = (fs::temp_directory_path() / "cocoon-warm-XXXXXX").string();
    ASSERT_TRUE(mkdtemp(base.data()));
    fs::create_directories(base + "/lower/etc");
    fs::create_directories(base + "/staging");
    std::ofstream(base + "/lower/etc/os-release") << "image\n";
    pid_t server = start_lease_server(1, -1, base + "/lower", base + "/staging");
    ASSERT_GT(server, 0);
    auto start = process_start_time(server);
    UnusedImage image;
    auto step = [&](const std::function<void(int root)>& setup,
                    const std::function<void(int root)>& tasks) {
        WarmMount lease = lease_warm_mount(server, start);
        WarmImage warm(image, UniqueFd(open("/", O_PATH | O_CLOEXEC)), std::move(lease.lease));
        UniqueFd root = warm.writable_root(7, 1 << 20);
        ASSERT_TRUE(root.valid());
        EXPECT_EQ(faccessat(root.get(), "etc/os-release", F_OK, 0), 0) << "not the image";
        setup(root.get());
        warm.setup_done();
        tasks(root.get());
    };
    auto has = [](int root, const char* name) { return faccessat(root, name, F_OK, 0) == 0; };
    step([](int root) { ASSERT_EQ(mkdirat(root, "mountpoint", 0755), 0); }, [](int) {});
    step([&](int root) { EXPECT_TRUE(has(root, "mountpoint")) << "the kept root was not given"; },
         [](int root) { UniqueFd(openat(root, "written", O_CREAT | O_WRONLY | O_CLOEXEC, 0644)); });
    step(
        [&](int root) {
            EXPECT_FALSE(has(root, "written")) << "a root a step wrote to was given again";
            EXPECT_FALSE(has(root, "mountpoint"));
        },
        [](int) {});
    EXPECT_EQ(exit_status(server), 0);
    fs::remove_all(base);
}

// The step waits for the image holder to confirm its snapshot before any task may write;
// without the answer in time it says so, and the overlay is not kept.
TEST(WarmMount, AStepSaysWhenItsSetupWasNotConfirmed)
{
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    UniqueFd holder_end(pair[1]);
    UnusedImage image;
    WarmImage warm(image, UniqueFd(open("/", O_PATH | O_CLOEXEC)), UniqueFd(pair[0]));
    auto received = [&] {
        std::string bytes(16, '\0');
        ssize_t n = recv(holder_end.get(), bytes.data(), bytes.size(), MSG_DONTWAIT);
        bytes.resize(n > 0 ? static_cast<size_t>(n) : 0);
        return bytes;
    };
    ASSERT_EQ(send(holder_end.get(), &warm_lease_ack, 1, 0), 1);
    warm.setup_done();
    EXPECT_EQ(received(), std::string{warm_setup_done});
    warm.setup_done(); // no answer: after a second
    EXPECT_EQ(received(), std::string{warm_setup_done} + warm_setup_unconfirmed);
    // The late answer would be taken for the next one's: nothing more is asked.
    ASSERT_EQ(send(holder_end.get(), &warm_lease_ack, 1, 0), 1);
    EXPECT_FALSE(warm.inner_user_namespace().valid());
    EXPECT_EQ(received(), "");
}
