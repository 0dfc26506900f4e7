#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>

#include "cocoon/error.h"
#include "cocoon/importer.h"
#include "cocoon/reference.h"
#include "image/cache.h"
#include "image/cache_lookup.h"
#include "image/digest.h"
#include "temp_dir.h"

using namespace cocoon;
namespace fs = std::filesystem;

namespace {

class CacheTest : public ::testing::Test {
protected:
    void SetUp() override { root_ = temp_.path(); }

    static std::string build_image(const std::string& work)
    {
        std::ofstream(work + "/image.sqsh") << "squashfs bytes";
        return R"({"config":{"Env":["A=1"]}})";
    }

    cocoon::test::TempDir temp_{"cocoon-cache-test"};
    std::string root_;
    const std::string digest_ = sha256_digest("manifest");
};

// The file of a name record, and setting its modification time (when it was resolved).
std::string record_file(const std::string& cache, const std::string& key)
{
    return cache + "/refs/" + digest_hex(sha256_digest(key));
}
void set_mtime(const std::string& path, time_t when)
{
    struct timespec times[2] = {{when, 0}, {when, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

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

TEST_F(CacheTest, AnImportRemovesTheWorkOfKilledImportsOfOtherImages)
{
    // Imports of two other images were killed; one of them is being imported again (its
    // importer holds the lock), the other never will be.
    ImageCache cache(root_);
    std::string dead = std::string(64, 'a'), alive = std::string(64, 'b');
    for (const auto& hex : {dead, alive}) {
        fs::create_directories(root_ + "/tmp/" + hex + ".otherhost.7");
        std::ofstream(root_ + "/tmp/" + hex + ".otherhost.7/layer0") << "partial";
    }
    std::ofstream(root_ + "/images/" + dead + ".json.tmp.7") << "{";
    fs::create_directories(root_ + "/tmp/unpack.otherhost.7");
    UniqueFd importer(
        open((root_ + "/locks/" + alive + ".lock").c_str(), O_CREAT | O_RDONLY | O_CLOEXEC, 0664));
    ASSERT_EQ(flock(importer.get(), LOCK_EX), 0);

    cache.import(digest_, "r", build_image);
    EXPECT_FALSE(fs::exists(root_ + "/tmp/" + dead + ".otherhost.7"));
    EXPECT_FALSE(fs::exists(root_ + "/images/" + dead + ".json.tmp.7"));
    EXPECT_TRUE(fs::exists(root_ + "/tmp/" + alive + ".otherhost.7/layer0"));
    EXPECT_TRUE(fs::exists(root_ + "/tmp/unpack.otherhost.7")) << "not an import's work";
}

TEST_F(CacheTest, HalfWrittenRecordOfADeadImporterIsRemoved)
{
    // Killed after publishing the squashfs, while writing its record: the squashfs is
    // invisible without the record, and the next importer removes the record's temporary.
    ImageCache cache(root_);
    std::string images = root_ + "/images/" + digest_hex(digest_);
    std::ofstream(images + ".sqsh") << "published";
    std::ofstream(images + ".json.tmp.1") << "{\"dig";
    std::string other = root_ + "/images/" + std::string(64, 'f') + ".json.tmp.1";
    std::ofstream(other) << "{";
    EXPECT_FALSE(cache.find(digest_));
    EXPECT_TRUE(cache.import(digest_, "r", build_image).squashfs.size() > 0);
    EXPECT_FALSE(fs::exists(images + ".json.tmp.1"));
    // Another digest's temporary may belong to an importer still at work: it stays.
    EXPECT_TRUE(fs::exists(other));
}

TEST_F(CacheTest, WritingANameRecordSweepsTemporariesKilledWritersLeft)
{
    // Writers killed between creating and renaming a name record left temporaries, of this
    // name and of another that may never be written again. A temporary still locked is a
    // writer at work (perhaps on another host); a fresh one may not be locked yet.
    ImageCache cache(root_);
    std::string record = root_ + "/refs/" + digest_hex(sha256_digest("name|amd64"));
    std::string other = root_ + "/refs/" + digest_hex(sha256_digest("other|amd64"));
    struct timespec old_times[2] = {{time(nullptr) - 5, 0}, {time(nullptr) - 5, 0}};
    for (const auto& path : {record + ".tmp.1", other + ".tmp.1", other + ".tmp.2"}) {
        std::ofstream(path) << "{";
        ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), old_times, 0), 0);
    }
    std::ofstream(other + ".tmp.3") << "{";
    UniqueFd writer(open((other + ".tmp.2").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_EQ(flock(writer.get(), LOCK_EX), 0);

    cache.remember_ref("name|amd64", digest_, "name");
    EXPECT_FALSE(fs::exists(record + ".tmp.1"));
    EXPECT_FALSE(fs::exists(other + ".tmp.1"));
    EXPECT_TRUE(fs::exists(other + ".tmp.2"));
    EXPECT_TRUE(fs::exists(other + ".tmp.3"));
    EXPECT_EQ(cache.lookup_ref("name|amd64"), digest_);
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

TEST_F(CacheTest, ALockFileTheImporterMayOnlyReadStillLocks)
{
    // Locks are opened for writing (as NFS needs for an exclusive flock); one another account
    // created, which the importer may only read, is locked read-only, as before.
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root to act as another user";
    constexpr uid_t importer_uid = 54321;
    ASSERT_EQ(chmod(root_.c_str(), 0755), 0);
    std::string cache = root_ + "/c";
    for (const char* dir : {"", "/images", "/refs", "/locks", "/tmp"}) {
        ASSERT_EQ(mkdir((cache + dir).c_str(), 0700), 0);
        ASSERT_EQ(chown((cache + dir).c_str(), importer_uid, importer_uid), 0);
    }
    std::ofstream(cache + "/locks/" + digest_hex(digest_) + ".lock");
    ASSERT_EQ(chmod((cache + "/locks/" + digest_hex(digest_) + ".lock").c_str(), 0644), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        if (setresgid(importer_uid, importer_uid, importer_uid) != 0 ||
            setresuid(importer_uid, importer_uid, importer_uid) != 0)
            _exit(2);
        try {
            ImageCache(cache).import(digest_, "r", build_image);
        } catch (...) {
            _exit(1);
        }
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    EXPECT_TRUE(ImageCache(cache, ImageCache::Access::ReadOnly, importer_uid).find(digest_));
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
    cocoon::test::TempDir temp("cocoon-evict-test");
    std::string root = temp.path();
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
}

TEST(CacheShared, DirectoriesFollowTheRootsModeAndReadOnlyCreatesNothing)
{
    cocoon::test::TempDir temp("cocoon-shared-test",
                               0755); // readable for all, as an admin makes it
    std::string root = temp.path();
    {
        ImageCache cache(root);
        cache.import(sha256_digest("m"), "r", [](const std::string& work) {
            std::ofstream(work + "/image.sqsh") << "x";
            return std::string("{}");
        });
    }
    EXPECT_EQ(fs::status(root + "/images").permissions() & fs::perms::all,
              static_cast<fs::perms>(0755));
    EXPECT_EQ(
        fs::status(root + "/images/" + digest_hex(sha256_digest("m")) + ".json").permissions() &
            fs::perms::others_read,
        fs::perms::others_read);

    ImageCache shared(root, ImageCache::Access::ReadOnly);
    EXPECT_TRUE(shared.find(sha256_digest("m")));
    ImageCache missing(root + "/absent", ImageCache::Access::ReadOnly);
    EXPECT_FALSE(missing.find(sha256_digest("m")));
    EXPECT_FALSE(fs::exists(root + "/absent"));
}

// ---- names: an image has every name it was used by ------------------------------------

TEST_F(CacheTest, AnImageKeepsEveryNameAndGoesWithTheLast)
{
    ImageCache cache(root_);
    cache.import(digest_, "oci:/images/busybox:latest", build_image);
    cache.remember_ref("oci:/images/busybox:latest", digest_, "oci:/images/busybox:latest");
    // The same manifest reached later under a registry name, and its digest key.
    cache.remember_ref("127.0.0.1:5000/test/busybox:latest|amd64", digest_,
                       "127.0.0.1:5000/test/busybox:latest");
    cache.remember_ref(digest_ + "|amd64", digest_);
    auto names = cache.names();
    ASSERT_EQ(names.size(), 2u);
    EXPECT_EQ(names[0].name, "127.0.0.1:5000/test/busybox:latest");
    EXPECT_EQ(names[1].name, "oci:/images/busybox:latest");
    EXPECT_EQ(cache.lookup_ref("127.0.0.1:5000/test/busybox:latest|amd64"), digest_);

    EXPECT_EQ(cache.remove_name("oci:/images/busybox:latest"), 1u);
    EXPECT_TRUE(cache.find(digest_)) << "the other name still holds the image";
    EXPECT_EQ(cache.lookup_ref("127.0.0.1:5000/test/busybox:latest|amd64"), digest_);
    EXPECT_EQ(cache.remove_name("no-such-name"), 0u);

    EXPECT_EQ(cache.remove_name("127.0.0.1:5000/test/busybox:latest"), 1u);
    EXPECT_FALSE(cache.find(digest_)) << "the last name took the image";
    EXPECT_FALSE(cache.lookup_ref(digest_ + "|amd64")) << "no record points to a gone image";
    EXPECT_TRUE(fs::is_empty(root_ + "/refs"));
}

TEST_F(CacheTest, RemovingByDigestTakesEveryName)
{
    ImageCache cache(root_);
    cache.import(digest_, "a", build_image);
    cache.remember_ref("a", digest_, "a");
    cache.remember_ref("b|amd64", digest_, "b");
    EXPECT_TRUE(cache.remove(digest_));
    EXPECT_TRUE(cache.names().empty());
    EXPECT_FALSE(cache.lookup_ref("b|amd64"));
}

TEST_F(CacheTest, RememberingTheSameRecordWritesNothing)
{
    ImageCache cache(root_);
    cache.remember_ref("k", digest_, "n");
    std::string file = record_file(root_, "k");
    set_mtime(file, 1000);
    cache.remember_ref("k", digest_, "n");
    struct stat st {};
    ASSERT_EQ(stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mtime, 1000);
    cache.remember_ref("k", sha256_digest("other"), "n"); // a tag that moved: rewritten
    EXPECT_EQ(cache.lookup_ref("k"), sha256_digest("other"));
}

TEST_F(CacheTest, ARecordResolvedBeforeTheGivenTimeIsNotReturned)
{
    ImageCache cache(root_);
    cache.remember_ref("k", digest_, "n");
    set_mtime(record_file(root_, "k"), 1000);
    EXPECT_EQ(cache.lookup_ref("k"), digest_);
    EXPECT_EQ(cache.lookup_ref("k", 999), digest_);
    EXPECT_FALSE(cache.lookup_ref("k", 1001));
    cache.mark_resolved("k");
    EXPECT_EQ(cache.lookup_ref("k", time(nullptr) - 60), digest_);
    EXPECT_FALSE(cache.lookup_ref("other", 1));
}

namespace {

// cocoon_cache_find_image as a step calls it (libcocoon-cache's entry point), on a cache
// with one image recorded under a tag and a digest of a registry nobody listens on: a
// request would fail the lookup, so an answer shows none was made.
class CacheLookupTest : public CacheTest {
protected:
    void SetUp() override
    {
        CacheTest::SetUp();
        ImageCache cache(root_);
        cache.import(digest_, tag_, build_image);
        cache.remember_ref(registry_key(tag_), digest_, tag_);
        record_ = record_file(root_, registry_key(tag_));
    }
    bool find(const std::string& reference, uint64_t tag_check_interval,
              ImportedImage* result = nullptr, const std::string& shared_cache = {})
    {
        Config config = default_config();
        config.tag_check_interval = tag_check_interval;
        if (!shared_cache.empty())
            config.shared_caches = {shared_cache};
        ImportedImage image;
        bool found = cocoon_cache_find_image(parse_image_reference(reference, "/"), config, root_,
                                             {}, &image);
        if (result)
            *result = std::move(image);
        return found;
    }
    void resolved_ago(time_t seconds) { set_mtime(record_, time(nullptr) - seconds); }
    time_t record_time()
    {
        struct stat st {};
        EXPECT_EQ(stat(record_.c_str(), &st), 0);
        return st.st_mtime;
    }

    const std::string tag_ = "127.0.0.1:1/repo:tag";
    std::string record_;
};

} // namespace

TEST_F(CacheLookupTest, ATagResolvedWithinTheIntervalNeedsNoRequest)
{
    resolved_ago(30);
    ImportedImage image;
    ASSERT_TRUE(find(tag_, 60, &image));
    EXPECT_EQ(image.digest, digest_);
    EXPECT_TRUE(image.in_use.valid()); // opened and locked for the mount
    EXPECT_TRUE(flock(image.in_use.get(), LOCK_EX | LOCK_NB) == 0 || errno == EWOULDBLOCK);
    // Using it does not make the tag look resolved again.
    EXPECT_LE(record_time(), time(nullptr) - 30);
}

TEST_F(CacheLookupTest, TheLatestResolutionOfAnyCacheCounts)
{
    // The admin's shared cache says the tag is another image, resolved 10 s ago.
    cocoon::test::TempDir shared_dir("cocoon-shared-lookup-test", 0755);
    std::string shared = shared_dir.path();
    const std::string other = sha256_digest("the tag's next manifest");
    {
        ImageCache cache(shared);
        cache.import(other, tag_, build_image);
        cache.remember_ref(registry_key(tag_), other, tag_);
        set_mtime(record_file(shared, registry_key(tag_)), time(nullptr) - 10);
    }
    ImportedImage image;
    resolved_ago(5); // the user's own record is newer
    ASSERT_TRUE(find(tag_, 60, &image, shared));
    EXPECT_EQ(image.digest, digest_);
    resolved_ago(20); // now the admin's is
    ASSERT_TRUE(find(tag_, 60, &image, shared));
    EXPECT_EQ(image.digest, other);
}

TEST_F(CacheLookupTest, AnOlderResolutionOrNoIntervalAsksTheRegistry)
{
    resolved_ago(120);
    EXPECT_FALSE(find(tag_, 60));
    resolved_ago(0);
    EXPECT_FALSE(find(tag_, 0)); // tag_check_interval 0: every use asks
    EXPECT_FALSE(find("127.0.0.1:1/repo:other", 60)); // another tag was never resolved
}

TEST_F(CacheLookupTest, ACachedPinnedDigestNeedsNoRequest)
{
    resolved_ago(1000000);
    ImportedImage image;
    ASSERT_TRUE(find("127.0.0.1:1/repo@" + digest_, 0, &image));
    EXPECT_EQ(image.digest, digest_);
    EXPECT_FALSE(find("127.0.0.1:1/repo@" + sha256_digest("another manifest"), 0));
}

// srun's answer for the step: the tag's image by that digest, with no request, whatever the
// tag's record said; the record then takes the answer, as from the node's own request.
TEST_F(CacheLookupTest, TheDigestSrunResolvedNeedsNoRequest)
{
    const std::string moved = sha256_digest("the tag's next manifest");
    ImageCache(root_).import(moved, "127.0.0.1:1/repo@" + moved, build_image);
    resolved_ago(1000000);
    auto reference = parse_image_reference(tag_, "/");
    reference.resolved_digest = moved;
    ImportedImage image;
    ASSERT_TRUE(cocoon_cache_find_image(reference, default_config(), root_, {}, &image));
    EXPECT_EQ(image.digest, moved);
    EXPECT_EQ(ImageCache(root_).lookup_ref(registry_key(tag_)), moved);
    EXPECT_GE(record_time(), time(nullptr) - 5);
    // An answer the caches do not hold is the importer's to fetch.
    reference.resolved_digest = sha256_digest("not cached");
    EXPECT_FALSE(cocoon_cache_find_image(reference, default_config(), root_, {}, &image));
}

namespace {

// Writes `content` as a blob of the OCI layout at `layout`; returns its descriptor.
std::string write_blob(const std::string& layout, const std::string& media_type,
                       const std::string& content)
{
    std::string digest = sha256_digest(content);
    fs::create_directories(layout + "/blobs/sha256");
    std::ofstream(layout + "/blobs/sha256/" + digest_hex(digest)) << content;
    return R"({"mediaType":")" + media_type + R"(","digest":")" + digest + R"(","size":)" +
           std::to_string(content.size()) + "}";
}

// A one-layer OCI layout tagged "v1"; returns its manifest's digest.
std::string write_layout(const std::string& layout)
{
    std::string config = write_blob(layout, "application/vnd.oci.image.config.v1+json", "{}");
    std::string layer = write_blob(layout, "application/vnd.oci.image.layer.v1.tar", "tar");
    std::string manifest =
        R"({"schemaVersion":2,"config":)" + config + R"(,"layers":[)" + layer + "]}";
    std::string entry = write_blob(layout, "application/vnd.oci.image.manifest.v1+json", manifest);
    entry.insert(entry.size() - 1, R"(,"annotations":{"org.opencontainers.image.ref.name":"v1"})");
    std::ofstream(layout + "/index.json") << R"({"schemaVersion":2,"manifests":[)" + entry + "]}";
    return sha256_digest(manifest);
}

} // namespace

TEST_F(CacheLookupTest, ACachedOciLayoutImageNeedsNoImporter)
{
    std::string layout = root_ + "/layout";
    std::string manifest = write_layout(layout);
    EXPECT_FALSE(find("oci:" + layout + ":v1", 0)); // not converted yet: the importer's
    ImageCache(root_).import(manifest, "oci:" + layout + ":v1", build_image);
    ImportedImage image;
    ASSERT_TRUE(find("oci:" + layout + ":v1", 0, &image));
    EXPECT_EQ(image.digest, manifest);
    EXPECT_TRUE(image.in_use.valid());
    // Used under that name: listed and removable by it.
    EXPECT_EQ(ImageCache(root_).lookup_ref("oci:" + layout + ":v1"), manifest);
    // The layout is read at each use: a tag it does not have is an error, as when importing.
    EXPECT_THROW(find("oci:" + layout + ":v2", 0), Error);
}

TEST_F(CacheLookupTest, ArchivesAreLeftToTheImporter)
{
    EXPECT_FALSE(find("oci-archive:" + root_ + "/image.tar", 60));
    EXPECT_FALSE(find("docker-archive:" + root_ + "/image.tar", 60));
    EXPECT_FALSE(find(root_ + "/images", 60));
}

TEST_F(CacheTest, DamagedRecordsAreIgnored)
{
    ImageCache cache(root_);
    std::ofstream(root_ + "/refs/" + digest_hex(sha256_digest("k"))) << "{not json";
    EXPECT_FALSE(cache.lookup_ref("k"));
    EXPECT_TRUE(cache.names().empty());
    cache.remember_ref("k", digest_, "k");
    EXPECT_EQ(cache.lookup_ref("k"), digest_);
}

// ---- trust: nobody but the user and root may have changed the cache ---------------------
// The unit tests run as root (uid 0 is "the user" here); another user is simulated by
// chown to an unused uid.

constexpr uid_t other_uid = 54321;

std::string error_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST_F(CacheTest, ACacheCreatedByAnotherUserIsRefused)
{
    std::string cache_root = root_ + "/planted";
    ASSERT_EQ(mkdir(cache_root.c_str(), 0700), 0);
    ASSERT_EQ(chown(cache_root.c_str(), other_uid, other_uid), 0);
    auto message = error_of([&] { ImageCache cache(cache_root); });
    EXPECT_NE(message.find(cache_root), std::string::npos) << message;
    EXPECT_NE(message.find("owned by uid 54321"), std::string::npos) << message;
    EXPECT_FALSE(fs::exists(cache_root + "/images")) << "nothing is created in a refused cache";
}

TEST_F(CacheTest, AGroupWritableCacheIsRefused)
{
    ASSERT_EQ(chmod(root_.c_str(), 0770), 0);
    auto message = error_of([&] { ImageCache cache(root_); });
    EXPECT_NE(message.find("writable by its group or others (mode 0770)"), std::string::npos)
        << message;
    EXPECT_NE(message.find("chmod go-w"), std::string::npos) << message;
}

TEST_F(CacheTest, ACacheRootThatIsASymlinkIsRefused)
{
    std::string real = root_ + "/real";
    std::string link = root_ + "/link";
    ASSERT_EQ(mkdir(real.c_str(), 0700), 0);
    ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
    auto message = error_of([&] { ImageCache cache(link); });
    EXPECT_NE(message.find("is a symbolic link"), std::string::npos) << message;
}

TEST_F(CacheTest, AParentAnotherUserCanChangeIsRefused)
{
    std::string parent = root_ + "/theirs";
    ASSERT_EQ(mkdir(parent.c_str(), 0755), 0);
    ASSERT_EQ(chown(parent.c_str(), other_uid, other_uid), 0);
    auto message = error_of([&] { ImageCache cache(parent + "/mine"); });
    EXPECT_NE(message.find(parent + " is owned by uid 54321"), std::string::npos) << message;
    EXPECT_FALSE(fs::exists(parent + "/mine"));

    std::string open_parent = root_ + "/open";
    ASSERT_EQ(mkdir(open_parent.c_str(), 0777), 0);
    ASSERT_EQ(chmod(open_parent.c_str(), 0777), 0);
    message = error_of([&] { ImageCache cache(open_parent + "/mine"); });
    EXPECT_NE(message.find("not a root-owned sticky directory"), std::string::npos) << message;

    // A root-owned sticky directory (like /tmp): others may add entries, not replace ours.
    ASSERT_EQ(chmod(open_parent.c_str(), 01777), 0);
    EXPECT_NO_THROW(ImageCache(open_parent + "/mine"));
}

TEST_F(CacheTest, SymlinksAboveTheCacheAreFollowedOnlyWhenTrusted)
{
    std::string real = root_ + "/real";
    ASSERT_EQ(mkdir(real.c_str(), 0755), 0);
    std::string trusted = root_ + "/trusted";
    ASSERT_EQ(symlink(real.c_str(), trusted.c_str()), 0);
    EXPECT_NO_THROW(ImageCache(trusted + "/cache"));
    EXPECT_TRUE(fs::is_directory(real + "/cache/images"));

    std::string planted = root_ + "/planted";
    ASSERT_EQ(symlink(real.c_str(), planted.c_str()), 0);
    ASSERT_EQ(lchown(planted.c_str(), other_uid, other_uid), 0);
    auto message = error_of([&] { ImageCache cache(planted + "/cache"); });
    EXPECT_NE(message.find("the symbolic link " + planted + " is owned by uid 54321"),
              std::string::npos)
        << message;
}

TEST_F(CacheTest, ASubdirectorySwappedForASymlinkIsRefused)
{
    {
        ImageCache cache(root_);
    }
    std::string elsewhere = root_ + "/elsewhere";
    ASSERT_EQ(mkdir(elsewhere.c_str(), 0700), 0);
    fs::remove_all(root_ + "/images");
    ASSERT_EQ(symlink(elsewhere.c_str(), (root_ + "/images").c_str()), 0);
    auto message = error_of([&] { ImageCache cache(root_); });
    EXPECT_NE(message.find("is a symbolic link or not a directory"), std::string::npos) << message;
}

TEST_F(CacheTest, AtomicWritesDoNotFollowAPlantedTemporaryName)
{
    ImageCache cache(root_);
    std::string victim = root_ + "/victim";
    std::ofstream(victim) << "untouched";
    std::string file = digest_hex(sha256_digest("k"));
    ASSERT_EQ(symlink(victim.c_str(),
                      (root_ + "/refs/" + file + ".tmp." + std::to_string(getpid())).c_str()),
              0);
    cache.remember_ref("k", digest_, "k");
    EXPECT_EQ(cache.lookup_ref("k"), digest_);
    std::ifstream in(victim);
    std::string content;
    in >> content;
    EXPECT_EQ(content, "untouched");
}

TEST(CacheSharedTrust, OnlyRootOwnedAndNotWritableByOthers)
{
    cocoon::test::TempDir temp("cocoon-shared-trust");
    std::string root = temp.path();
    ASSERT_EQ(chmod(root.c_str(), 0775), 0);
    auto message = error_of([&] { ImageCache cache(root, ImageCache::Access::ReadOnly); });
    EXPECT_NE(message.find("refusing the shared image cache " + root), std::string::npos)
        << message;
    EXPECT_NE(message.find("writable by its group"), std::string::npos) << message;

    ASSERT_EQ(chmod(root.c_str(), 0755), 0);
    ASSERT_EQ(chown(root.c_str(), other_uid, other_uid), 0);
    message = error_of([&] { ImageCache cache(root, ImageCache::Access::ReadOnly); });
    EXPECT_NE(message.find("owned by uid 54321, not uid 0"), std::string::npos) << message;

    // ... unless that user is the configured owner of shared caches.
    EXPECT_NO_THROW(ImageCache(root, ImageCache::Access::ReadOnly, other_uid));
    ASSERT_EQ(chown(root.c_str(), 12345, 12345), 0);
    message = error_of([&] { ImageCache cache(root, ImageCache::Access::ReadOnly, other_uid); });
    EXPECT_NE(message.find("owned by uid 12345, not root or uid 54321"), std::string::npos)
        << message;

    ASSERT_EQ(chown(root.c_str(), 0, 0), 0);
    {
        ImageCache fill(root);
    }
    ASSERT_EQ(chown((root + "/images").c_str(), other_uid, other_uid), 0);
    message = error_of([&] { ImageCache cache(root, ImageCache::Access::ReadOnly); });
    EXPECT_NE(message.find(root + "/images: it is owned by uid 54321"), std::string::npos)
        << message;
}
