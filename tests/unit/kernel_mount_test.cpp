// The check that decides which files may reach the kernel's squashfs parser, and the kernel
// mount itself on a real loop device. Runs as root (the unit suite does); another user is
// simulated with an unused uid.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>

#include "cocoon/error.h"
#include "cocoon/kernel_mount.h"
#include "runtime/trusted_file.h"
#include "temp_dir.h"

using namespace cocoon;
namespace fs = std::filesystem;

namespace {

constexpr uid_t other_uid = 54321;
const std::string hex(64, 'a');

std::string error_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// DIR/cache/images/HEX.sqsh, all root's, the way `cocoon pull` as root leaves a shared cache.
class TrustedCache : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (geteuid() != 0)
            GTEST_SKIP() << "needs root (files of other owners, loop devices)";
        top_ = temp_.path();
        cache_ = top_ + "/cache";
        images_ = cache_ + "/images";
        fs::create_directories(images_);
        chmod(cache_.c_str(), 0755);
        chmod(images_.c_str(), 0755);
        file_ = images_ + "/" + hex + ".sqsh";
        std::ofstream(file_) << "hsqs and the rest of an image";
        chmod(file_.c_str(), 0644);
    }
    std::string open_error(const std::string& dir = {}, const std::string& name = {})
    {
        return error_of([&] {
            open_root_owned_file(dir.empty() ? images_ : dir, name.empty() ? hex + ".sqsh" : name);
        });
    }
    cocoon::test::TempDir temp_{"cocoon-kernel-mount-test", 0755};
    std::string top_, cache_, images_, file_;
};

} // namespace

TEST_F(TrustedCache, ARootOwnedFileInRootOwnedDirectoriesOpens)
{
    EXPECT_EQ(open_error(), "");
    UniqueFd fd = open_root_owned_file(images_, hex + ".sqsh");
    char magic[4] = {};
    ASSERT_EQ(pread(fd.get(), magic, 4, 0), 4);
    EXPECT_EQ(std::string(magic, 4), "hsqs") << "the descriptor is the checked file, readable";
}

TEST_F(TrustedCache, AFileOfAnotherUserIsRefused)
{
    ASSERT_EQ(chown(file_.c_str(), other_uid, 0), 0);
    EXPECT_NE(open_error().find("owned by uid 54321, not root"), std::string::npos) << open_error();
}

TEST_F(TrustedCache, AFileOthersCanWriteIsRefused)
{
    chmod(file_.c_str(), 0664);
    EXPECT_NE(open_error().find("writable by its group or others"), std::string::npos);
    chmod(file_.c_str(), 0646);
    EXPECT_NE(open_error().find("writable by its group or others"), std::string::npos);
}

TEST_F(TrustedCache, ASymbolicLinkInPlaceOfTheFileIsRefused)
{
    std::string elsewhere = top_ + "/elsewhere.sqsh";
    fs::rename(file_, elsewhere);
    fs::create_symlink(elsewhere, file_);
    EXPECT_NE(open_error().find("is a symbolic link"), std::string::npos) << open_error();
}

TEST_F(TrustedCache, ASymbolicLinkOnTheWayIsRefused)
{
    // Even a root-owned link: the walk follows none.
    fs::create_directory_symlink(cache_, top_ + "/link");
    EXPECT_NE(open_error(top_ + "/link/images").find("symbolic link or not a directory"),
              std::string::npos)
        << open_error(top_ + "/link/images");
}

TEST_F(TrustedCache, ADirectoryOfAnotherUserIsRefused)
{
    ASSERT_EQ(chown(cache_.c_str(), other_uid, 0), 0);
    EXPECT_NE(open_error().find(cache_ + " is owned by uid 54321"), std::string::npos)
        << open_error();
    ASSERT_EQ(chown(cache_.c_str(), 0, 0), 0);
    ASSERT_EQ(chown(images_.c_str(), other_uid, 0), 0);
    EXPECT_NE(open_error().find(images_ + " is owned by uid 54321"), std::string::npos);
}

TEST_F(TrustedCache, AWritableDirectoryIsRefused)
{
    chmod(top_.c_str(), 0777); // a parent others may change
    EXPECT_NE(open_error().find(top_ + " is writable by its group or others"), std::string::npos)
        << open_error();
    chmod(top_.c_str(), 01777); // sticky above the cache: others cannot replace root's entries
    EXPECT_EQ(open_error(), "");
    chmod(images_.c_str(), 01777); // but the directory of the file itself stays closed
    EXPECT_NE(open_error().find(images_ + " is writable"), std::string::npos) << open_error();
}

TEST_F(TrustedCache, AHardLinkedFileIsRefused)
{
    fs::create_hard_link(file_, top_ + "/second-name");
    EXPECT_NE(open_error().find("2 hard links"), std::string::npos) << open_error();
}

TEST_F(TrustedCache, OddNamesAreRefused)
{
    EXPECT_NE(open_error(cache_ + "/../cache/images").find("'..'"), std::string::npos);
    EXPECT_NE(open_error("images", hex + ".sqsh").find("not an absolute path"), std::string::npos);
    EXPECT_NE(open_error(images_, "../images/x").find("not a file name"), std::string::npos);
    EXPECT_NE(open_error(images_, "missing.sqsh").find("cannot open"), std::string::npos);
}

TEST(TrustedImageRequest, OnlyAnIndexAndSixtyFourHexDigitsAreAccepted)
{
    auto request = parse_trusted_image_request("1 " + hex);
    EXPECT_EQ(request.cache, 1u);
    EXPECT_EQ(request.hex, hex);
    EXPECT_EQ(format_trusted_image_request(request), "1 " + hex);
    for (const std::string& bad :
         {std::string("1"), " " + hex, "x " + hex, "-1 " + hex, "99999 " + hex,
          "0 " + hex.substr(1), "0 " + hex + "a", "0 ../" + hex.substr(3),
          "0 " + std::string(64, 'A'), "0  " + hex})
        EXPECT_NE(error_of([&] { parse_trusted_image_request(bad); }), "") << bad;
}

TEST_F(TrustedCache, TheSiteConfigurationDecidesNotTheRequest)
{
    Config config;
    config.shared_caches = {cache_};
    EXPECT_NE(error_of([&] {
                  mount_trusted_squashfs(config, {0, hex}, -1);
              }).find("kernel_mount is off"),
              std::string::npos);
    config.kernel_mount = true;
    EXPECT_NE(error_of([&] {
                  mount_trusted_squashfs(config, {1, hex}, -1);
              }).find("not in a shared cache"),
              std::string::npos);
    EXPECT_NE(error_of([&] {
                  mount_trusted_squashfs(config, {0, "../x"}, -1);
              }).find("not in a shared cache"),
              std::string::npos);
    ASSERT_EQ(chown(file_.c_str(), other_uid, 0), 0);
    EXPECT_NE(error_of([&] {
                  mount_trusted_squashfs(config, {0, hex}, -1);
              }).find("not root"),
              std::string::npos);
}

namespace {

// A child in a user namespace of its own (root inside = root outside) until `release`.
struct UsernsChild {
    pid_t pid = -1;
    int release = -1;
    UniqueFd userns;
    UsernsChild()
    {
        int ready[2], go[2];
        if (pipe(ready) != 0 || pipe(go) != 0)
            return;
        pid = fork();
        if (pid == 0) {
            close(ready[0]);
            close(go[1]);
            char byte = unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
            (void)!write(ready[1], &byte, 1);
            (void)!read(go[0], &byte, 1);
            _exit(0);
        }
        close(ready[1]);
        close(go[0]);
        release = go[1];
        char byte = 'n';
        if (read(ready[0], &byte, 1) == 1 && byte == 'y') {
            std::ofstream(fmt::format("/proc/{}/uid_map", pid)) << "0 0 1";
            std::ofstream(fmt::format("/proc/{}/setgroups", pid)) << "deny";
            std::ofstream(fmt::format("/proc/{}/gid_map", pid)) << "0 0 1";
            userns = UniqueFd(open(fmt::format("/proc/{}/ns/user", pid).c_str(), O_RDONLY));
        }
        close(ready[0]);
    }
    ~UsernsChild()
    {
        close(release);
        if (pid > 0)
            waitpid(pid, nullptr, 0);
    }
};

// Loop devices whose backing file is `path`.
int loops_backed_by(const std::string& path)
{
    int count = 0;
    for (const auto& entry : fs::directory_iterator("/sys/block")) {
        std::ifstream in(entry.path() / "loop" / "backing_file");
        std::string backing;
        if (in && std::getline(in, backing) && backing == path)
            ++count;
    }
    return count;
}

// Waits until no more than `expected` loop devices back `path` (autoclear; the release may
// lag a moment); returns how many do.
int loops_left_after_release(const std::string& path, int expected = 0)
{
    int left = loops_backed_by(path);
    for (int i = 0; i < 100 && left > expected; ++i) {
        usleep(20 * 1000);
        left = loops_backed_by(path);
    }
    return left;
}

dev_t device_of(int fd)
{
    struct stat st {};
    return fstat(fd, &st) == 0 ? st.st_dev : 0;
}

// A loop device bound by hand (losetup OPTIONS FILE), detached again when it goes.
struct ManualLoop {
    std::string device;
    ManualLoop(const std::string& options, const std::string& file)
    {
        std::string command = fmt::format("losetup -f --show {} {}", options, file);
        FILE* out = popen(command.c_str(), "r");
        char line[64] = {};
        if (out && fgets(line, sizeof(line), out))
            device = std::string(line).substr(0, std::strcspn(line, "\n"));
        if (out)
            pclose(out);
    }
    ~ManualLoop()
    {
        if (!device.empty())
            (void)!system(fmt::format("losetup -d {}", device).c_str());
    }
    dev_t rdev() const
    {
        struct stat st {};
        return stat(device.c_str(), &st) == 0 ? st.st_rdev : 0;
    }
};

} // namespace

// The test image: one file, hello, in a squashfs at file_ (root's, 0644).
class KernelMount : public TrustedCache {
protected:
    void SetUp() override
    {
        TrustedCache::SetUp();
        if (IsSkipped())
            return;
        if (system("command -v mksquashfs >/dev/null") != 0)
            GTEST_SKIP() << "mksquashfs (squashfs-tools) is not installed";
        std::string tree = top_ + "/tree";
        fs::create_directories(tree);
        std::ofstream(tree + "/hello") << "from the kernel\n";
        fs::remove(file_);
        std::string command =
            fmt::format("mksquashfs {} {} -quiet -no-progress -all-root >/dev/null", tree, file_);
        ASSERT_EQ(system(command.c_str()), 0);
        chmod(file_.c_str(), 0644);
        config_.kernel_mount = true;
        config_.shared_caches = {"/nowhere", cache_};
    }
    UniqueFd mount_image(int userns) { return mount_trusted_squashfs(config_, {1, hex}, userns); }
    Config config_;
};

TEST_F(KernelMount, ATrustedImageIsMountedByTheKernelAndLeavesNoLoopDevice)
{
    UsernsChild child;
    ASSERT_TRUE(child.userns.valid());
    {
        UniqueFd mount = mount_image(child.userns.get());
        ASSERT_TRUE(mount.valid());
        EXPECT_EQ(loops_backed_by(file_), 1);
        UniqueFd hello(openat(mount.get(), "hello", O_RDONLY | O_CLOEXEC));
        ASSERT_TRUE(hello.valid());
        char text[64] = {};
        EXPECT_EQ(read(hello.get(), text, sizeof(text)), 16);
        EXPECT_STREQ(text, "from the kernel\n");
        EXPECT_NE(openat(mount.get(), "new", O_CREAT | O_WRONLY | O_CLOEXEC, 0644), 0)
            << "read-only";
    }
    EXPECT_EQ(loops_left_after_release(file_), 0) << "a loop device still backs " << file_;
}

TEST_F(KernelMount, MountsOfOneImageShareItsLoopDeviceAndSuperblock)
{
    UsernsChild first_user, second_user;
    ASSERT_TRUE(first_user.userns.valid() && second_user.userns.valid());
    {
        UniqueFd first = mount_image(first_user.userns.get());
        UniqueFd second = mount_image(second_user.userns.get());
        EXPECT_EQ(loops_backed_by(file_), 1);
        EXPECT_NE(device_of(first.get()), 0U);
        EXPECT_EQ(device_of(first.get()), device_of(second.get())) << "one superblock";
        // The first goes: the device stays with the second, and serves a third.
        dev_t shared = device_of(first.get());
        first.reset();
        UniqueFd third = mount_image(first_user.userns.get());
        EXPECT_EQ(loops_backed_by(file_), 1);
        EXPECT_EQ(device_of(third.get()), shared);
        EXPECT_TRUE(UniqueFd(openat(third.get(), "hello", O_RDONLY | O_CLOEXEC)).valid());
    }
    EXPECT_EQ(loops_left_after_release(file_), 0) << "a loop device still backs " << file_;
}

// Only a device that is the whole file, read-only, is shared: another view of the file (a
// writable device, an offset) gets a device of its own.
TEST_F(KernelMount, ALoopDeviceThatIsNotTheWholeFileReadOnlyIsNotShared)
{
    UsernsChild child;
    ASSERT_TRUE(child.userns.valid());
    for (const char* options : {"", "-r -o 1024", "-r --sizelimit 2048"}) {
        ManualLoop manual(options, file_);
        ASSERT_FALSE(manual.device.empty()) << "losetup " << options;
        {
            UniqueFd mount = mount_image(child.userns.get());
            EXPECT_NE(device_of(mount.get()), manual.rdev()) << "losetup " << options;
            EXPECT_EQ(loops_backed_by(file_), 2) << "losetup " << options;
        }
        EXPECT_EQ(loops_left_after_release(file_, 1), 1) << "losetup " << options;
    }
    EXPECT_EQ(loops_left_after_release(file_), 0);
}

TEST_F(TrustedCache, AFileThatIsNotSquashfsNeverReachesTheKernel)
{
    std::ofstream(file_) << "not an image at all";
    Config config;
    config.kernel_mount = true;
    config.shared_caches = {cache_};
    UsernsChild child;
    EXPECT_NE(error_of([&] {
                  mount_trusted_squashfs(config, {0, hex}, child.userns.get());
              }).find("not a squashfs file"),
              std::string::npos);
    EXPECT_EQ(loops_backed_by(file_), 0);
}

namespace {

// The mounts a test keeps stay in a mount namespace of this test process, whatever happens.
bool in_private_mount_namespace()
{
    static bool done = unshare(CLONE_NEWNS) == 0 &&
                       mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
    return done;
}

// Whether PATH is the root of a mount, and of which device.
dev_t mount_root_device(const std::string& path)
{
    struct statx st {};
    if (statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_TYPE, &st) != 0 ||
        (st.stx_attributes & STATX_ATTR_MOUNT_ROOT) == 0)
        return 0;
    return makedev(st.stx_dev_major, st.stx_dev_minor);
}

time_t mtime_of(const std::string& path)
{
    struct stat st {};
    return lstat(path.c_str(), &st) == 0 ? st.st_mtime : 0;
}

} // namespace

// kernel_mount_linger: one mount of the image stays on the node (under the runtime
// directory) after the step's own has gone, so the next step gets the same superblock.
class KeptKernelMount : public KernelMount {
protected:
    void SetUp() override
    {
        KernelMount::SetUp();
        if (IsSkipped())
            return;
        ASSERT_TRUE(in_private_mount_namespace());
        runtime_ = top_ + "/run";
        ASSERT_EQ(mkdir(runtime_.c_str(), 0700), 0);
        kept_ = runtime_ + "/kernel-mounts/" + hex;
        config_.kernel_mount_linger = 60;
    }
    void TearDown() override
    {
        if (!runtime_.empty())
            release_kept_kernel_mounts(runtime_, 0, time(nullptr));
    }
    UniqueFd mount_kept(int userns)
    {
        return mount_trusted_squashfs(config_, {1, hex}, userns, runtime_);
    }
    std::string runtime_, kept_;
};

TEST_F(KeptKernelMount, TheImageStaysMountedForTheNextStepUntilItsLingerHasPassed)
{
    UsernsChild child;
    ASSERT_TRUE(child.userns.valid());
    dev_t first = 0;
    {
        UniqueFd mount = mount_kept(child.userns.get());
        first = device_of(mount.get());
    }
    EXPECT_EQ(mount_root_device(kept_), first) << "kept at " << kept_;
    EXPECT_EQ(loops_left_after_release(file_, 1), 1) << "the kept mount holds its loop device";
    struct stat dir {};
    ASSERT_EQ(stat((runtime_ + "/kernel-mounts").c_str(), &dir), 0);
    EXPECT_EQ(dir.st_mode & 07777, 0700U);
    EXPECT_EQ(dir.st_uid, 0U);
    {
        UniqueFd next = mount_kept(child.userns.get());
        EXPECT_EQ(device_of(next.get()), first) << "the next step gets the same superblock";
        EXPECT_EQ(loops_backed_by(file_), 1);
    }
    // Not before the linger has passed; then the mount, its tmpfs and the loop device go.
    time_t now = time(nullptr);
    EXPECT_EQ(release_kept_kernel_mounts(runtime_, 60, now + 30), 0);
    EXPECT_EQ(mount_root_device(kept_), first);
    EXPECT_EQ(release_kept_kernel_mounts(runtime_, 60, now + 61), 1);
    EXPECT_EQ(mount_root_device(kept_), 0U);
    EXPECT_FALSE(fs::exists(runtime_ + "/kernel-mounts"));
    EXPECT_EQ(loops_left_after_release(file_), 0) << "a loop device still backs " << file_;
}

TEST_F(KeptKernelMount, AStepsEndStartsTheLingerAgain)
{
    UsernsChild child;
    ASSERT_TRUE(child.userns.valid());
    mount_kept(child.userns.get());
    std::string used = kept_ + ".used";
    struct timespec old[2] = {{1000, 0}, {1000, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, used.c_str(), old, 0), 0);
    note_kept_kernel_mount_use(runtime_, hex);
    EXPECT_GE(mtime_of(used), time(nullptr) - 5);
    EXPECT_EQ(release_kept_kernel_mounts(runtime_, 60, time(nullptr)), 0);
    EXPECT_NE(mount_root_device(kept_), 0U);
    // A use noted for an image kept nowhere keeps nothing.
    note_kept_kernel_mount_use(runtime_, std::string(64, 'b'));
    EXPECT_FALSE(fs::exists(runtime_ + "/kernel-mounts/" + std::string(64, 'b') + ".used"));
}

TEST_F(KeptKernelMount, ExpiredMountsGoWhenAnotherImageIsMounted)
{
    UsernsChild child;
    ASSERT_TRUE(child.userns.valid());
    mount_kept(child.userns.get());
    struct timespec old[2] = {{1000, 0}, {1000, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, (kept_ + ".used").c_str(), old, 0), 0);
    // The same image again: its own mount is kept, and its use noted.
    mount_kept(child.userns.get());
    EXPECT_NE(mount_root_device(kept_), 0U);
    EXPECT_GE(mtime_of(kept_ + ".used"), time(nullptr) - 5);
    // A leftover expired entry of another image goes with the next kernel mount.
    std::string other = runtime_ + "/kernel-mounts/" + std::string(64, 'c');
    ASSERT_EQ(mkdir(other.c_str(), 0700), 0);
    mount_kept(child.userns.get());
    EXPECT_FALSE(fs::exists(other));
}

TEST_F(KeptKernelMount, ALeftoverDirectoryInItsPlaceIsReplacedByTheMount)
{
    UsernsChild child;
    ASSERT_TRUE(child.userns.valid());
    mount_kept(child.userns.get());
    // Unmounted by hand: a plain directory is left where the mount belongs.
    ASSERT_EQ(umount2(kept_.c_str(), MNT_DETACH), 0);
    ASSERT_EQ(mount_root_device(kept_), 0U);
    dev_t device = device_of(mount_kept(child.userns.get()).get());
    EXPECT_EQ(mount_root_device(kept_), device);
}

TEST_F(KeptKernelMount, NothingIsKeptInARuntimeDirectoryOthersCanEnter)
{
    ASSERT_EQ(chmod(runtime_.c_str(), 0755), 0);
    UsernsChild child;
    ASSERT_TRUE(child.userns.valid());
    {
        UniqueFd mount = mount_kept(child.userns.get());
        EXPECT_TRUE(mount.valid()) << "the step's own mount is made all the same";
    }
    EXPECT_FALSE(fs::exists(runtime_ + "/kernel-mounts"));
    EXPECT_EQ(loops_left_after_release(file_), 0);
    EXPECT_NE(
        error_of([&] { release_kept_kernel_mounts(runtime_, 0, time(nullptr)); }).find("mode 0700"),
        std::string::npos);
    ASSERT_EQ(chmod(runtime_.c_str(), 0700), 0);
}

TEST_F(KeptKernelMount, WithoutALingerNothingIsKept)
{
    config_.kernel_mount_linger = 0;
    UsernsChild child;
    ASSERT_TRUE(child.userns.valid());
    mount_kept(child.userns.get());
    EXPECT_FALSE(fs::exists(runtime_ + "/kernel-mounts"));
    EXPECT_EQ(loops_left_after_release(file_), 0);
}
