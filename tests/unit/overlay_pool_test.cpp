// The writable roots an image holder keeps for later steps (runtime/overlay_pool.h): the
// snapshot that tells a changed overlay from one as its setup left it, and the pool with
// real overlays, in a private mount namespace of this test (as root).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "cocoon/unique_fd.h"
#include "runtime/overlay_pool.h"

using namespace cocoon;
namespace fs = std::filesystem;

namespace {

class TempDir {
public:
    TempDir()
    {
        std::string pattern = (fs::temp_directory_path() / "cocoon-overlay-XXXXXX").string();
        path_ = mkdtemp(pattern.data()) ? pattern : "";
    }
    ~TempDir()
    {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

void write(const std::string& path, const std::string& text)
{
    std::ofstream(path) << text;
}

std::optional<TreeSnapshot> snapshot(const std::string& path)
{
    UniqueFd dir(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    return snapshot_tree(dir.get(), 100);
}

// A layers directory as a setup leaves it: mount points in the upper directory.
void make_layers(const std::string& root)
{
    fs::create_directories(root + "/upper/run/munge");
    fs::create_directories(root + "/work/work");
    write(root + "/upper/run/munge/munge.socket.2", "");
}

dev_t device_of(int fd)
{
    struct stat st {};
    return fstat(fd, &st) == 0 ? st.st_dev : 0;
}

} // namespace

TEST(OverlaySnapshot, TheSameTreeGivesTheSameSnapshot)
{
    TempDir dir;
    make_layers(dir.path());
    auto before = snapshot(dir.path());
    ASSERT_TRUE(before);
    EXPECT_EQ(before->size(), 7u); // the directory, upper, run, munge, the socket, work, work
    EXPECT_EQ(*before, *snapshot(dir.path()));
}

TEST(OverlaySnapshot, EveryKindOfChangeIsSeen)
{
    using Change = std::function<void(const std::string&)>;
    std::vector<std::pair<std::string, Change>> changes = {
        {"a new file", [](const std::string& d) { write(d + "/upper/new", "x"); }},
        {"a file written",
         [](const std::string& d) { write(d + "/upper/run/munge/munge.socket.2", "x"); }},
        {"a mode changed", [](const std::string& d) { chmod((d + "/upper/run").c_str(), 0700); }},
        {"the root's mode changed",
         [](const std::string& d) { chmod((d + "/upper").c_str(), 0700); }},
        {"an extended attribute set",
         [](const std::string& d) {
             // Where user attributes are not supported, an owner change stands in.
             if (setxattr((d + "/upper/run").c_str(), "user.x", "1", 1, 0) != 0)
                 (void)!chown((d + "/upper/run").c_str(), 1, 1);
         }},
        {"a file made and removed",
         [](const std::string& d) {
             write(d + "/upper/run/gone", "");
             fs::remove(d + "/upper/run/gone");
         }},
        {"a file replaced by another of the same name",
         [](const std::string& d) {
             std::string socket = d + "/upper/run/munge/munge.socket.2";
             fs::remove(socket);
             write(socket, "");
         }},
        {"a leftover in the work directory",
         [](const std::string& d) { write(d + "/work/work/#1", ""); }},
    };
    for (const auto& [what, change] : changes) {
        TempDir dir;
        make_layers(dir.path());
        auto before = snapshot(dir.path());
        ASSERT_TRUE(before) << what;
        // Past a tick of the coarse clock, which stamps files on kernels without
        // fine-grained timestamps: a file made and removed again is seen by its directory's
        // times only.
        usleep(20000);
        change(dir.path());
        auto after = snapshot(dir.path());
        EXPECT_FALSE(after && *after == *before) << what << " went unseen";
    }
}

TEST(OverlaySnapshot, MoreEntriesThanTheLimitGiveNone)
{
    TempDir dir;
    make_layers(dir.path());
    UniqueFd fd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    EXPECT_FALSE(snapshot_tree(fd.get(), 3));
    EXPECT_TRUE(snapshot_tree(fd.get(), 7));
}

TEST(OverlayPlanKey, DiffersWithThePlan)
{
    EXPECT_EQ(overlay_plan_key("bind /a <- /b\n"), overlay_plan_key("bind /a <- /b\n"));
    EXPECT_NE(overlay_plan_key("bind /a <- /b\n"), overlay_plan_key("bind /a <- /c\n"));
}

class OverlayPoolTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (geteuid() != 0)
            GTEST_SKIP() << "needs root (mounts)";
        // Every mount of this test is in the test process's own namespace, gone with it.
        ASSERT_EQ(unshare(CLONE_NEWNS), 0);
        ASSERT_EQ(mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
        fs::create_directories(lower_.path() + "/etc");
        write(lower_.path() + "/etc/os-release", "image\n");
        pool_.emplace(lower_.path(), staging_.path());
    }

    // What a step does with its clone: sees the image, and may write a file (into the upper
    // layer, so the overlay is changed).
    static bool sees_image(int root) { return faccessat(root, "etc/os-release", F_OK, 0) == 0; }
    static bool has(int root, const char* name) { return faccessat(root, name, F_OK, 0) == 0; }
    static void write_in(int root, const char* name)
    {
        UniqueFd fd(openat(root, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
        ASSERT_TRUE(fd.valid()) << name;
    }

    TempDir lower_;
    TempDir staging_;
    std::optional<OverlayPool> pool_;
};

TEST_F(OverlayPoolTest, AnUnchangedOverlayServesTheNextStepOfTheSamePlan)
{
    UniqueFd first = pool_->take(10, 1, 1 << 20);
    ASSERT_TRUE(first.valid());
    EXPECT_TRUE(sees_image(first.get()));
    write_in(first.get(), "mountpoint"); // the setup's own mount point
    pool_->setup_done(10);
    dev_t device = device_of(first.get());
    first.reset();
    pool_->release(10);
    EXPECT_EQ(pool_->size(), 1u);
    EXPECT_EQ(pool_->kept(), 1u);

    UniqueFd second = pool_->take(11, 1, 1 << 20);
    EXPECT_EQ(device_of(second.get()), device) << "not the kept overlay";
    EXPECT_TRUE(has(second.get(), "mountpoint"));
    EXPECT_EQ(pool_->kept(), 0u);
}

TEST_F(OverlayPoolTest, AnOverlayWrittenAfterItsSetupIsNeverGivenAgain)
{
    UniqueFd first = pool_->take(10, 1, 1 << 20);
    pool_->setup_done(10);
    write_in(first.get(), "written-by-a-task");
    first.reset();
    pool_->release(10);
    EXPECT_EQ(pool_->size(), 0u) << "a changed overlay was kept";

    UniqueFd next = pool_->take(11, 1, 1 << 20);
    EXPECT_FALSE(has(next.get(), "written-by-a-task"));
    EXPECT_TRUE(sees_image(next.get()));
}

TEST_F(OverlayPoolTest, AStepThatNeverFinishedItsSetupLeavesNothingKept)
{
    UniqueFd first = pool_->take(10, 1, 1 << 20);
    first.reset();
    pool_->release(10);
    EXPECT_EQ(pool_->size(), 0u);
}

TEST_F(OverlayPoolTest, StepsAtTheSameTimeOrWithAnotherPlanOrSizeGetOverlaysOfTheirOwn)
{
    UniqueFd a = pool_->take(10, 1, 1 << 20);
    UniqueFd b = pool_->take(11, 1, 1 << 20);
    EXPECT_NE(device_of(a.get()), device_of(b.get()));
    write_in(a.get(), "only-in-a");
    EXPECT_FALSE(has(b.get(), "only-in-a"));
    pool_->setup_done(11);
    pool_->release(11);
    EXPECT_EQ(pool_->kept(), 1u);
    UniqueFd other_plan = pool_->take(12, 2, 1 << 20);
    UniqueFd other_size = pool_->take(13, 1, 2 << 20);
    EXPECT_EQ(pool_->size(), 4u);
    EXPECT_EQ(pool_->kept(), 1u);
}

TEST_F(OverlayPoolTest, AnOverlayWhoseSetupWasNotConfirmedIsNotKept)
{
    UniqueFd first = pool_->take(10, 1, 1 << 20);
    pool_->setup_done(10);
    pool_->forget_setup(10);
    first.reset();
    pool_->release(10);
    EXPECT_EQ(pool_->size(), 0u);
}

TEST_F(OverlayPoolTest, AtMostEightUnusedOverlaysAreKept)
{
    std::vector<UniqueFd> roots;
    for (int lease = 10; lease < 20; ++lease) {
        roots.push_back(pool_->take(lease, 1, 1 << 20));
        pool_->setup_done(lease);
    }
    EXPECT_EQ(pool_->size(), 10u);
    roots.clear();
    for (int lease = 10; lease < 20; ++lease)
        pool_->release(lease);
    EXPECT_EQ(pool_->kept(), 8u);
    EXPECT_EQ(pool_->size(), 8u);
}
