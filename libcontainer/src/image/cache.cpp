#include "cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
#include "digest.h"
#include "util/json_limits.h"
#include "util/sys.h"

namespace cocoon {

namespace {

using json = nlohmann::json;

// An image's metadata: its configuration (at most max_image_json_size) and a few fields.
constexpr size_t max_meta_size = 16 << 20;

std::string replace_all(std::string text, const std::string& from, const std::string& to)
{
    for (size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
        text.replace(pos, from.size(), to);
    return text;
}

void make_dir(const std::string& path, mode_t mode)
{
    if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
        throw_errno(fmt::format("cannot create the image cache directory {}", path));
}

void fsync_path(const std::string& path, int flags)
{
    UniqueFd fd(open(path.c_str(), flags | O_CLOEXEC));
    if (!fd.valid() || fsync(fd.get()) != 0)
        throw_errno(fmt::format("cannot flush {} to disk", path));
}

// Writes `content` to `path` through a temporary name, so readers see all or nothing.
void write_atomically(const std::string& path, const std::string& content)
{
    std::string temporary = fmt::format("{}.tmp.{}", path, getpid());
    {
        // Readable as far as the cache directory lets others in (a shared cache).
        UniqueFd fd(open(temporary.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644));
        if (!fd.valid())
            throw_errno(fmt::format("cannot write {}", temporary));
        try {
            sys::write_all(fd.get(), content);
        } catch (const Error& e) {
            unlink(temporary.c_str());
            throw e.wrap(fmt::format("cannot write {}", temporary));
        }
        if (fsync(fd.get()) != 0) {
            unlink(temporary.c_str());
            throw_errno(fmt::format("cannot flush {}", temporary));
        }
    }
    if (rename(temporary.c_str(), path.c_str()) != 0) {
        int error = errno;
        unlink(temporary.c_str());
        throw_errno(fmt::format("cannot publish {}", path), error);
    }
}

class DigestLock {
public:
    explicit DigestLock(const std::string& path)
        : fd_(open(path.c_str(), O_CREAT | O_RDONLY | O_CLOEXEC, 0664))
    {
        if (!fd_.valid())
            throw_errno(fmt::format("cannot create the lock {}", path));
        while (flock(fd_.get(), LOCK_EX) != 0)
            if (errno != EINTR)
                throw_errno(fmt::format("cannot lock {}", path));
    }

private:
    UniqueFd fd_; // closing releases the lock, also when the process is killed
};

} // namespace

std::string resolve_cache_dir(const Config& config, const Identity& identity,
                              const std::string& override)
{
    std::string dir = override.empty() ? config.cache_dir : override;
    dir = replace_all(dir, "{uid}", std::to_string(identity.uid));
    dir = replace_all(dir, "{user}", identity.user_name);
    dir = replace_all(dir, "{home}", identity.home);
    if (!dir.starts_with('/'))
        fail("the image cache directory '{}' is not an absolute path", dir);
    return std::filesystem::path(dir).lexically_normal().string();
}

ImageCache::ImageCache(std::string root, Access access) : root_(std::move(root))
{
    if (access == Access::ReadOnly)
        return;
    std::filesystem::path partial;
    for (const auto& part : std::filesystem::path(root_)) {
        partial /= part;
        if (partial.string() != "/")
            make_dir(partial.string(), 0700);
    }
    // A private cache is 0700; an admin who made the root group- or world-readable (a
    // shared cache) gets the same mode on the directories inside.
    struct stat st {};
    mode_t mode = stat(root_.c_str(), &st) == 0 ? (st.st_mode & 0777) | 0700 : 0700;
    for (const char* dir : {"images", "refs", "locks", "tmp"})
        make_dir(path(dir, ""), mode);
}

std::string ImageCache::path(const std::string& dir, const std::string& name) const
{
    return name.empty() ? root_ + "/" + dir : root_ + "/" + dir + "/" + name;
}

std::optional<CachedImage> ImageCache::find(const std::string& digest) const
{
    std::string hex = digest_hex(digest);
    std::string meta_path = path("images", hex + ".json");
    std::string sqsh = path("images", hex + ".sqsh");
    UniqueFd fd(open(meta_path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    struct stat meta_stat {};
    if (!fd.valid() || stat(sqsh.c_str(), &st) != 0 || fstat(fd.get(), &meta_stat) != 0)
        return std::nullopt;
    try {
        json meta = parse_untrusted_json(sys::read_file(fd.get(), max_meta_size), meta_path,
                                         max_meta_size);
        CachedImage image;
        image.digest = digest;
        image.squashfs = sqsh;
        image.reference = meta.value("reference", "");
        image.config = meta.contains("config") ? meta["config"].dump() : "";
        image.size = static_cast<uint64_t>(st.st_size);
        image.last_used = meta_stat.st_mtime;
        return image;
    } catch (const std::exception&) {
        return std::nullopt; // a damaged marker: the entry is rebuilt
    }
}

std::vector<CachedImage> ImageCache::list() const
{
    std::vector<CachedImage> images;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(path("images", ""), error)) {
        std::string name = entry.path().filename().string();
        if (!name.ends_with(".json") || name.size() != 64 + 5)
            continue;
        try {
            if (auto image = find("sha256:" + name.substr(0, 64)))
                images.push_back(*image);
        } catch (const Error&) {
        }
    }
    return images;
}

std::optional<std::string> ImageCache::lookup_ref(const std::string& key) const
{
    std::string file = path("refs", digest_hex(sha256_digest(key)));
    UniqueFd fd(open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
        return std::nullopt;
    std::string digest = sys::read_file(fd.get(), 256);
    try {
        digest_hex(digest);
    } catch (const Error&) {
        return std::nullopt;
    }
    return digest;
}

void ImageCache::remember_ref(const std::string& key, const std::string& digest)
{
    write_atomically(path("refs", digest_hex(sha256_digest(key))), digest);
}

void ImageCache::touch(const std::string& digest) const
{
    std::string meta_path = path("images", digest_hex(digest) + ".json");
    utimensat(AT_FDCWD, meta_path.c_str(), nullptr, 0);
}

CachedImage ImageCache::import(const std::string& digest, const std::string& reference,
                               const std::function<std::string(const std::string&)>& build)
{
    std::string hex = digest_hex(digest);
    if (auto image = find(digest))
        return *image;
    DigestLock lock(path("locks", hex + ".lock"));
    if (auto image = find(digest))
        return *image; // another process imported it while we waited

    // We hold the lock: any work directory of this digest belongs to a dead importer.
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(path("tmp", ""), ignored))
        if (entry.path().filename().string().starts_with(hex + "."))
            std::filesystem::remove_all(entry.path(), ignored);

    std::string work = path("tmp", fmt::format("{}.{}.{}", hex, sys::host_name(), getpid()));
    make_dir(work, 0700);
    try {
        std::string config = build(work);
        std::string built = work + "/image.sqsh";
        fsync_path(built, O_RDONLY);
        json meta = {{"digest", digest}, {"reference", reference}, {"imported", time(nullptr)}};
        if (!config.empty())
            meta["config"] = parse_untrusted_json(config, "the image configuration");
        std::string sqsh = path("images", hex + ".sqsh");
        if (rename(built.c_str(), sqsh.c_str()) != 0)
            throw_errno(fmt::format("cannot publish {}", sqsh));
        write_atomically(path("images", hex + ".json"), meta.dump());
        fsync_path(path("images", ""), O_RDONLY | O_DIRECTORY);
    } catch (const Error& e) {
        std::filesystem::remove_all(work, ignored);
        throw e.wrap(fmt::format("cannot import into the image cache {}", root_));
    } catch (const std::exception& e) {
        std::filesystem::remove_all(work, ignored);
        fail("cannot import into the image cache {}: {}", root_, e.what());
    }
    std::filesystem::remove_all(work, ignored);
    auto image = find(digest);
    if (!image)
        fail("image {} vanished from the cache {} right after its import", digest, root_);
    return *image;
}

std::vector<std::string> ImageCache::evict(uint64_t max_bytes)
{
    auto images = list();
    uint64_t total = 0;
    for (const auto& image : images)
        total += image.size;
    std::sort(images.begin(), images.end(),
              [](const CachedImage& a, const CachedImage& b) { return a.last_used < b.last_used; });
    std::vector<std::string> removed;
    for (const auto& image : images) {
        if (total <= max_bytes)
            break;
        UniqueFd sqsh(open(image.squashfs.c_str(), O_RDONLY | O_CLOEXEC));
        if (!sqsh.valid() || flock(sqsh.get(), LOCK_EX | LOCK_NB) != 0)
            continue; // in use
        UniqueFd lock(open(path("locks", digest_hex(image.digest) + ".lock").c_str(),
                           O_CREAT | O_RDONLY | O_CLOEXEC, 0664));
        if (!lock.valid() || flock(lock.get(), LOCK_EX | LOCK_NB) != 0)
            continue; // being (re)imported
        unlink(path("images", digest_hex(image.digest) + ".json").c_str());
        unlink(image.squashfs.c_str());
        total -= image.size;
        removed.push_back(image.digest);
    }
    return removed;
}

bool ImageCache::remove(const std::string& digest)
{
    std::string hex = digest_hex(digest);
    DigestLock lock(path("locks", hex + ".lock"));
    bool existed = unlink(path("images", hex + ".json").c_str()) == 0;
    unlink(path("images", hex + ".sqsh").c_str());
    return existed;
}

} // namespace cocoon
