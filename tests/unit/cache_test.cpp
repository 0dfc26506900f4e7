#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "cocoon/error.h"
#include "image/cache.h"
#include "image/digest.h"

using namespace cocoon;
namespace fs = std::filesystem;

namespace {

class CacheTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char pattern[] = "/tmp/cocoon-cache-test.XXXXXX";
        ASSERT_NE(mkdtemp(pattern), nullptr);
        root_ = pattern;
    }
    void TearDown() override { fs::remove_all(root_); }

    static std::string build_image(const std::string& work)
    {
        std::ofstream(work + "/image.sqsh") << "squashfs bytes";
        return R"({"config":{"Env":["A=1"]}})";
    }

    std::string root_;
    const std::string digest_ = sha256_digest("manifest");
};

} // namespace

TEST_F(CacheTest, ImportPublishesAndFinds)
{
    ImageCache cache(root_ + "/c");
    EXPECT_FALSE(cache.find(digest_));
    auto image = cache.import(digest_, "reg/repo:tag", build_image);
    EXPECT_EQ(image.digest, digest_);
    EXPECT_EQ(image.reference, "reg/repo:tag");
    EXPECT_NE(image.config.find("A=1"), std::string::npos);
    EXPECT_TRUE(fs::exists(image.squashfs));
    EXPECT_TRUE(cache.find(digest_));
    EXPECT_TRUE(fs::is_empty(root_ + "/c/tmp")); // no work left behind
    auto mode = fs::status(root_ + "/c").permissions();
    EXPECT_EQ(mode & fs::perms::all, fs::perms::owner_all);
}

TEST_F(CacheTest, SecondImportDoesNotBuild)
{
    ImageCache cache(root_);
    cache.import(digest_, "r", build_image);
    int builds = 0;
    cache.import(digest_, "r", [&](const std::string& work) {
        ++builds;
        return build_image(work);
    });
    EXPECT_EQ(builds, 0);
}

TEST_F(CacheTest, FailedBuildLeavesNothing)
{
    ImageCache cache(root_);
    try {
        cache.import(digest_, "r", [](const std::string& work) -> std::string {
            std::ofstream(work + "/image.sqsh") << "half";
            fail("disk full");
        });
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(root_), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("disk full"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(cache.find(digest_));
    EXPECT_TRUE(fs::is_empty(root_ + "/tmp"));
    EXPECT_FALSE(fs::exists(root_ + "/images/" + digest_hex(digest_) + ".sqsh"));
}

TEST_F(CacheTest, StaleWorkOfADeadImporterIsRemoved)
{
    ImageCache cache(root_);
    std::string stale = root_ + "/tmp/" + digest_hex(digest_) + ".deadhost.1";
    fs::create_directories(stale);
    std::ofstream(stale + "/layer0") << "partial";
    cache.import(digest_, "r", build_image);
    EXPECT_FALSE(fs::exists(stale));
}

TEST_F(CacheTest, SquashfsWithoutMarkerIsInvisible)
{
    ImageCache cache(root_);
    std::ofstream(root_ + "/images/" + digest_hex(digest_) + ".sqsh") << "orphan";
    EXPECT_FALSE(cache.find(digest_));
    EXPECT_TRUE(cache.list().empty());
}

TEST_F(CacheTest, ConcurrentImportersBuildOnce)
{
    // Two processes import the same digest at the same moment: one builds, both succeed.
    std::string counter = root_ + "/builds";
    auto importer = [&] {
        ImageCache cache(root_);
        cache.import(digest_, "r", [&](const std::string& work) {
            int fd = open(counter.c_str(), O_CREAT | O_WRONLY | O_APPEND, 0600);
            (void)!write(fd, "x", 1);
            close(fd);
            usleep(200 * 1000);
            return build_image(work);
        });
    };
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        try {
            importer();
        } catch (...) {
            _exit(1);
        }
        _exit(0);
    }
    importer();
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(fs::file_size(counter), 1u);
}

TEST_F(CacheTest, RefsListRemove)
{
    ImageCache cache(root_);
    cache.import(digest_, "reg/repo:tag", build_image);
    cache.remember_ref("reg/repo:tag|amd64", digest_);
    EXPECT_EQ(cache.lookup_ref("reg/repo:tag|amd64"), digest_);
    EXPECT_FALSE(cache.lookup_ref("other"));
    ASSERT_EQ(cache.list().size(), 1u);
    EXPECT_TRUE(cache.remove(digest_));
    EXPECT_FALSE(cache.remove(digest_));
    EXPECT_TRUE(cache.list().empty());
}

TEST(CacheDir, Placeholders)
{
    Config config = default_config();
    Identity identity;
    identity.uid = 1001;
    identity.user_name = "alice";
    identity.home = "/home/alice";
    EXPECT_EQ(resolve_cache_dir(config, identity, ""), "/home/alice/.cache/cocoon");
    config.cache_dir = "/scratch/{user}/{uid}/cache/";
    EXPECT_EQ(resolve_cache_dir(config, identity, ""), "/scratch/alice/1001/cache/");
    EXPECT_EQ(resolve_cache_dir(config, identity, "/tmp/mine"), "/tmp/mine");
    EXPECT_THROW(resolve_cache_dir(config, identity, "relative/dir"), Error);
}

TEST(CacheEvict, OldestUnusedGoFirstAndImagesInUseStay)
{
    char pattern[] = "/tmp/cocoon-evict-test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    std::string root = pattern;
    ImageCache cache(root);
    std::vector<std::string> digests;
    for (int i = 0; i < 3; ++i) {
        digests.push_back(sha256_digest("m" + std::to_string(i)));
        cache.import(digests.back(), "r" + std::to_string(i), [](const std::string& work) {
            std::ofstream(work + "/image.sqsh") << std::string(1000, 'x');
            return std::string();
        });
        // Distinct last-used times, oldest first.
        struct timespec times[2] = {{1000 + i, 0}, {1000 + i, 0}};
        utimensat(AT_FDCWD, (root + "/images/" + digest_hex(digests.back()) + ".json").c_str(),
                  times, 0);
    }
    // The oldest is in use: a container holds a shared lock on it.
    int in_use = open(cache.find(digests[0])->squashfs.c_str(), O_RDONLY);
    ASSERT_EQ(flock(in_use, LOCK_SH), 0);
    auto removed = cache.evict(1500);
    EXPECT_EQ(removed, (std::vector<std::string>{digests[1], digests[2]}));
    EXPECT_TRUE(cache.find(digests[0]));
    close(in_use);
    EXPECT_EQ(cache.evict(0), std::vector<std::string>{digests[0]});
    fs::remove_all(root);
}

TEST(CacheShared, DirectoriesFollowTheRootsModeAndReadOnlyCreatesNothing)
{
    char pattern[] = "/tmp/cocoon-shared-test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    std::string root = pattern;
    chmod(root.c_str(), 0755); // the admin made it readable for all
    {
        ImageCache cache(root);
        cache.import(sha256_digest("m"), "r", [](const std::string& work) {
            std::ofstream(work + "/image.sqsh") << "x";
            return std::string("{}");
        });
    }
    EXPECT_EQ(fs::status(root + "/images").permissions() & fs::perms::all,
              static_cast<fs::perms>(0755));
    EXPECT_EQ(fs::status(root + "/images/" + digest_hex(sha256_digest("m")) + ".json").permissions() &
                  fs::perms::others_read,
              fs::perms::others_read);

    ImageCache shared(root, ImageCache::Access::ReadOnly);
    EXPECT_TRUE(shared.find(sha256_digest("m")));
    ImageCache missing(root + "/absent", ImageCache::Access::ReadOnly);
    EXPECT_FALSE(missing.find(sha256_digest("m")));
    EXPECT_FALSE(fs::exists(root + "/absent"));
    fs::remove_all(root);
}
