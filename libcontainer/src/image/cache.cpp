#include "cache.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "cocoon/error.h"
#include "digest.h"
#include "util/json_limits.h"
#include "util/safe_dir.h"
#include "util/sys.h"

namespace cocoon {

namespace {

using json = nlohmann::json;

constexpr size_t max_ref_bytes = 64 << 10;
// An image's metadata: its configuration (at most max_image_json_size) and a few fields.
constexpr size_t max_meta_bytes = 16 << 20;

// Names in a directory we hold open (never following what they are); none when it cannot
// be listed.
std::vector<std::string> list_dir(int dir)
{
    return sys::directory_entries(dir).value_or(std::vector<std::string>{});
}

// Removes the temporaries in `dir` (sys::write_file_atomically's NAME.tmp.PID) whose name
// starts with `prefix` and whose writer was killed between creating and renaming them. The
// writer's pid does not tell whether it is alive, as the cache may be shared between hosts;
// its lock on the temporary does.
void remove_dead_temporaries(int dir, const std::string& prefix, time_t settle)
{
    sys::remove_dead_temporaries(
        dir,
        [&](const std::string& name) {
            return name.starts_with(prefix) && name.find(".tmp.") != std::string::npos;
        },
        settle);
}

UniqueFd open_at(int dir, const std::string& name, int flags, mode_t mode = 0)
{
    return UniqueFd(openat(dir, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode));
}

// Reads a regular file of this cache; nullopt when it is missing, not regular or too big.
std::optional<std::string> read_at(int dir, const std::string& name, size_t limit)
{
    UniqueFd fd = open_at(dir, name, O_RDONLY | O_NONBLOCK);
    struct stat st {};
    if (!fd.valid() || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<uint64_t>(st.st_size) > limit)
        return std::nullopt;
    try {
        return sys::read_file(fd.get(), limit);
    } catch (const Error&) {
        return std::nullopt;
    }
}

// A file to take an exclusive flock on, opened for writing (nothing is written): NFS
// emulates flock with a byte-range lock of the whole file, and an exclusive one needs a
// descriptor open for writing there (flock(2)), as in a cache under an NFS home directory.
// A file we may only read (a lock another account of the site created) is locked as
// before, which local file systems allow.
UniqueFd open_to_lock(int dir, const std::string& name, int flags = 0)
{
    UniqueFd fd = open_at(dir, name, flags | O_RDWR, 0664);
    if (!fd.valid() && errno == EACCES)
        fd = open_at(dir, name, flags | O_RDONLY, 0664);
    return fd;
}

class DigestLock {
public:
    DigestLock(int locks_dir, const std::string& name, const std::string& shown)
        : fd_(open_to_lock(locks_dir, name, O_CREAT))
    {
        if (!fd_.valid())
            throw_errno(fmt::format("cannot create the lock {}", shown));
        while (flock(fd_.get(), LOCK_EX) != 0)
            if (errno != EINTR)
                throw_errno(fmt::format("cannot lock {}", shown));
    }

private:
    UniqueFd fd_; // closing releases the lock, also when the process is killed
};

} // namespace

ImageCache::ImageCache(std::string root, Access access, uid_t shared_owner)
    : root_(std::move(root))
{
    if (root_.size() > 1 && root_.ends_with('/'))
        root_.pop_back();
    bool writable = access == Access::ReadWrite;
    sys::DirRule rule;
    rule.owner = writable ? geteuid() : shared_owner;
    rule.root_may_own = !writable;
    rule.create = writable;
    rule.mode = 0700;
    rule.what = writable ? "the image cache" : "the shared image cache";
    try {
        root_fd_ = sys::open_trusted_dir(root_, rule);
    } catch (const Error& e) {
        if (!writable && e.error_number() == ENOENT) {
            absent_ = true; // configured on every node, filled on some
            return;
        }
        throw;
    }
    // A private cache is 0700; an admin who made the root readable to a group or to all (a
    // shared cache) gets the same mode on the directories inside.
    struct stat st {};
    if (fstat(root_fd_.get(), &st) == 0)
        rule.mode = (st.st_mode & 0755) | 0700;
    try {
        images_fd_ = sys::open_trusted_subdir(root_fd_.get(), root_, "images", rule);
        refs_fd_ = sys::open_trusted_subdir(root_fd_.get(), root_, "refs", rule);
    } catch (const Error& e) {
        if (!writable && e.error_number() == ENOENT) {
            absent_ = true; // created, not filled yet
            return;
        }
        throw;
    }
    if (writable) {
        locks_fd_ = sys::open_trusted_subdir(root_fd_.get(), root_, "locks", rule);
        tmp_fd_ = sys::open_trusted_subdir(root_fd_.get(), root_, "tmp", rule);
    }
}

std::optional<CachedImage> ImageCache::find(const std::string& digest) const
{
    if (absent_)
        return std::nullopt;
    std::string hex = digest_hex(digest);
    struct stat st {};
    struct stat meta_stat {};
    UniqueFd meta_fd = open_at(images_fd_.get(), hex + ".json", O_RDONLY | O_NONBLOCK);
    if (!meta_fd.valid() || fstat(meta_fd.get(), &meta_stat) != 0 || !S_ISREG(meta_stat.st_mode) ||
        fstatat(images_fd_.get(), (hex + ".sqsh").c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode))
        return std::nullopt;
    try {
        json meta = parse_untrusted_json(sys::read_file(meta_fd.get(), max_meta_bytes),
                                         root_ + "/images/" + hex + ".json", max_meta_bytes);
        CachedImage image;
        image.digest = digest;
        image.squashfs = root_ + "/images/" + hex + ".sqsh";
        image.reference = meta.value("reference", "");
        image.config = meta.contains("config") ? meta["config"].dump() : "";
        image.size = static_cast<uint64_t>(st.st_size);
        image.last_used = meta_stat.st_mtime;
        return image;
    } catch (const std::exception&) {
        return std::nullopt; // a damaged marker: the entry is rebuilt
    }
}

UniqueFd ImageCache::open_squashfs(const std::string& digest) const
{
    std::string name = digest_hex(digest) + ".sqsh";
    UniqueFd fd = absent_ ? UniqueFd() : open_at(images_fd_.get(), name, O_RDONLY | O_NONBLOCK);
    struct stat st {};
    if (!fd.valid() || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
        fail("the image {}/images/{} is gone or not a regular file", root_, name);
    return fd;
}

UniqueFd ImageCache::open_tokens_dir() const noexcept
{
    if (absent_ || !tmp_fd_.valid()) // tmp/ exists in a writable cache only
        return {};
    sys::DirRule rule;
    rule.owner = geteuid();
    rule.create = true;
    rule.mode = 0700;
    rule.what = "the registry tokens of the image cache";
    try {
        UniqueFd dir = sys::open_trusted_subdir(root_fd_.get(), root_, "tokens", rule);
        struct stat st {};
        // Readable by nobody else, also where an admin made the cache readable to all.
        if (fstat(dir.get(), &st) != 0 || (st.st_mode & 077) != 0)
            return {};
        return dir;
    } catch (const Error&) {
        return {};
    }
}

std::vector<CachedImage> ImageCache::list() const
{
    std::vector<CachedImage> images;
    if (absent_)
        return images;
    for (const auto& name : list_dir(images_fd_.get())) {
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

std::optional<ImageCache::Ref> ImageCache::read_ref(const std::string& file) const
{
    auto text = read_at(refs_fd_.get(), file, max_ref_bytes);
    if (!text)
        return std::nullopt;
    try {
        json record = parse_untrusted_json(*text, root_ + "/refs/" + file, max_ref_bytes);
        Ref ref{file, record.at("key").get<std::string>(), record.at("digest").get<std::string>(),
                record.value("name", "")};
        digest_hex(ref.digest); // a well-formed digest, or Error
        return ref;
    } catch (const std::exception&) {
        return std::nullopt; // damaged: as if absent, rewritten on next use
    }
}

std::vector<ImageCache::Ref> ImageCache::refs() const
{
    std::vector<Ref> all;
    if (absent_)
        return all;
    for (const auto& file : list_dir(refs_fd_.get()))
        if (file.size() == 64 && file.find_first_not_of("0123456789abcdef") == std::string::npos)
            if (auto ref = read_ref(file))
                all.push_back(std::move(*ref));
    return all;
}

std::optional<std::string> ImageCache::lookup_ref(const std::string& key, time_t resolved_since,
                                                  time_t* resolved_at) const
{
    if (absent_)
        return std::nullopt;
    std::string file = digest_hex(sha256_digest(key));
    if (resolved_since > 0 || resolved_at) {
        struct stat st {};
        if (fstatat(refs_fd_.get(), file.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            st.st_mtime < resolved_since)
            return std::nullopt;
        if (resolved_at)
            *resolved_at = st.st_mtime;
    }
    auto ref = read_ref(file);
    if (!ref || ref->key != key)
        return std::nullopt;
    return ref->digest;
}

void ImageCache::mark_resolved(const std::string& key) const
{
    if (!absent_ && tmp_fd_.valid())
        utimensat(refs_fd_.get(), digest_hex(sha256_digest(key)).c_str(), nullptr,
                  AT_SYMLINK_NOFOLLOW);
}

void ImageCache::remember_ref(const std::string& key, const std::string& digest,
                              const std::string& name)
{
    std::string file = digest_hex(sha256_digest(key));
    auto existing = read_ref(file);
    if (existing && existing->key == key && existing->digest == digest && existing->name == name)
        return; // most uses of a cached image: nothing to write
    // Rarely written (a new name or a moved tag): the moment to sweep what killed writers
    // of any record left, which no later write of their own name might come to remove.
    remove_dead_temporaries(refs_fd_.get(), "", 1);
    json record = {{"key", key}, {"digest", digest}};
    if (!name.empty())
        record["name"] = name;
    sys::write_file_atomically(refs_fd_.get(), file, record.dump(), 0644, root_ + "/refs/" + file);
}

std::vector<CachedName> ImageCache::names() const
{
    std::vector<CachedName> result;
    for (const auto& ref : refs())
        if (!ref.name.empty())
            result.push_back({ref.name, ref.digest});
    std::sort(result.begin(), result.end(), [](const CachedName& a, const CachedName& b) {
        return std::tie(a.name, a.digest) < std::tie(b.name, b.digest);
    });
    result.erase(std::unique(result.begin(), result.end(),
                             [](const CachedName& a, const CachedName& b) {
                                 return a.name == b.name && a.digest == b.digest;
                             }),
                 result.end());
    return result;
}

void ImageCache::touch(const std::string& digest) const
{
    if (!absent_ && images_fd_.valid())
        utimensat(images_fd_.get(), (digest_hex(digest) + ".json").c_str(), nullptr,
                  AT_SYMLINK_NOFOLLOW);
}

void ImageCache::remove_dead_import(const std::string& hex)
{
    for (const auto& name : list_dir(tmp_fd_.get()))
        if (name.starts_with(hex + "."))
            sys::remove_tree(tmp_fd_.get(), name);
    remove_dead_temporaries(images_fd_.get(), hex + ".json", 0);
}

void ImageCache::remove_dead_imports_of_others(const std::string& own_hex)
{
    std::set<std::string> seen;
    for (const auto& name : list_dir(tmp_fd_.get())) {
        std::string hex = name.substr(0, name.find('.'));
        bool work_name = hex.size() < name.size() && is_sha256_hex(hex);
        if (!work_name || hex == own_hex || !seen.insert(hex).second)
            continue;
        UniqueFd lock = open_to_lock(locks_fd_.get(), hex + ".lock", O_CREAT);
        if (lock.valid() && flock(lock.get(), LOCK_EX | LOCK_NB) == 0)
            remove_dead_import(hex); // the lock goes with `lock`
    }
}

CachedImage ImageCache::import(const std::string& digest, const std::string& reference,
                               const std::function<std::string(const std::string&)>& build)
{
    if (!tmp_fd_.valid())
        fail("the shared image cache {} is read-only", root_);
    std::string hex = digest_hex(digest);
    if (auto image = find(digest))
        return *image;
    DigestLock lock(locks_fd_.get(), hex + ".lock", root_ + "/locks/" + hex + ".lock");
    if (auto image = find(digest))
        return *image; // another process imported it while we waited

    // We hold the lock: any work directory of this digest, and any half-written record of
    // it (an importer killed between publishing the squashfs and renaming its record into
    // place), belongs to a dead importer. So do those of other digests nobody holds locked.
    remove_dead_import(hex);
    remove_dead_imports_of_others(hex);

    std::string work_name = fmt::format("{}.{}.{}", hex, sys::host_name(), getpid());
    if (mkdirat(tmp_fd_.get(), work_name.c_str(), 0700) != 0)
        throw_errno(fmt::format("cannot create {}/tmp/{}", root_, work_name));
    // The builder writes by path: every directory up to the cache root was checked to be
    // changeable only by root and the user, and work_name was just created by us.
    std::string work = root_ + "/tmp/" + work_name;
    try {
        std::string config = build(work);
        UniqueFd work_fd = open_at(tmp_fd_.get(), work_name, O_RDONLY | O_DIRECTORY);
        UniqueFd built =
            work_fd.valid() ? open_at(work_fd.get(), "image.sqsh", O_RDONLY) : UniqueFd();
        if (!built.valid() || fsync(built.get()) != 0)
            throw_errno(fmt::format("cannot flush {}/image.sqsh to disk", work));
        json meta = {{"digest", digest}, {"reference", reference}, {"imported", time(nullptr)}};
        if (!config.empty())
            meta["config"] = parse_untrusted_json(config, "the image configuration");
        if (renameat(work_fd.get(), "image.sqsh", images_fd_.get(), (hex + ".sqsh").c_str()) != 0)
            throw_errno(fmt::format("cannot publish {}/images/{}.sqsh", root_, hex));
        sys::write_file_atomically(images_fd_.get(), hex + ".json", meta.dump(), 0644,
                                   root_ + "/images/" + hex + ".json");
        if (fsync(images_fd_.get()) != 0)
            throw_errno(fmt::format("cannot flush {}/images to disk", root_));
    } catch (const Error& e) {
        sys::remove_tree(tmp_fd_.get(), work_name);
        throw e.wrap(fmt::format("cannot import into the image cache {}", root_));
    } catch (const std::exception& e) {
        sys::remove_tree(tmp_fd_.get(), work_name);
        fail("cannot import into the image cache {}: {}", root_, e.what());
    }
    sys::remove_tree(tmp_fd_.get(), work_name);
    auto image = find(digest);
    if (!image)
        fail("image {} vanished from the cache {} right after its import", digest, root_);
    return *image;
}

void ImageCache::remove_image_files(const std::string& hex)
{
    unlinkat(images_fd_.get(), (hex + ".json").c_str(), 0);
    unlinkat(images_fd_.get(), (hex + ".sqsh").c_str(), 0);
}

void ImageCache::remove_refs_to(const std::string& digest)
{
    for (const auto& ref : refs())
        if (ref.digest == digest)
            unlinkat(refs_fd_.get(), ref.file.c_str(), 0);
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
        std::string hex = digest_hex(image.digest);
        UniqueFd sqsh = open_to_lock(images_fd_.get(), hex + ".sqsh");
        if (!sqsh.valid() || flock(sqsh.get(), LOCK_EX | LOCK_NB) != 0)
            continue; // in use
        UniqueFd lock = open_to_lock(locks_fd_.get(), hex + ".lock", O_CREAT);
        if (!lock.valid() || flock(lock.get(), LOCK_EX | LOCK_NB) != 0)
            continue; // being (re)imported
        remove_image_files(hex);
        remove_refs_to(image.digest);
        total -= image.size;
        removed.push_back(image.digest);
    }
    return removed;
}

bool ImageCache::remove(const std::string& digest)
{
    if (!tmp_fd_.valid())
        fail("the shared image cache {} is read-only", root_);
    std::string hex = digest_hex(digest);
    DigestLock lock(locks_fd_.get(), hex + ".lock", root_ + "/locks/" + hex + ".lock");
    bool existed = unlinkat(images_fd_.get(), (hex + ".json").c_str(), 0) == 0;
    unlinkat(images_fd_.get(), (hex + ".sqsh").c_str(), 0);
    remove_refs_to(digest);
    return existed;
}

size_t ImageCache::remove_name(const std::string& name)
{
    if (!tmp_fd_.valid())
        fail("the shared image cache {} is read-only", root_);
    std::set<std::string> affected;
    size_t removed = 0;
    auto all = refs();
    for (const auto& ref : all)
        if (ref.name == name && unlinkat(refs_fd_.get(), ref.file.c_str(), 0) == 0) {
            affected.insert(ref.digest);
            ++removed;
        }
    // An image goes with its last name.
    for (const auto& digest : affected) {
        bool named = false;
        for (const auto& ref : refs())
            named = named || (ref.digest == digest && !ref.name.empty());
        if (!named)
            remove(digest);
    }
    return removed;
}

std::string ImageCache::make_scratch(const std::string& prefix)
{
    if (!tmp_fd_.valid())
        fail("the shared image cache {} is read-only", root_);
    std::string host_prefix = fmt::format("{}.{}.", prefix, sys::host_name());
    for (const auto& name : list_dir(tmp_fd_.get())) {
        if (!name.starts_with(host_prefix))
            continue;
        pid_t pid = std::atoi(name.c_str() + host_prefix.size());
        if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH)
            sys::remove_tree(tmp_fd_.get(), name);
    }
    std::string name = host_prefix + std::to_string(getpid());
    sys::remove_tree(tmp_fd_.get(), name);
    if (mkdirat(tmp_fd_.get(), name.c_str(), 0700) != 0)
        throw_errno(fmt::format("cannot create {}/tmp/{}", root_, name));
    return root_ + "/tmp/" + name;
}

void ImageCache::remove_scratch(const std::string& path) noexcept
{
    std::string prefix = root_ + "/tmp/";
    if (tmp_fd_.valid() && path.starts_with(prefix) &&
        path.find('/', prefix.size()) == std::string::npos)
        sys::remove_tree(tmp_fd_.get(), path.substr(prefix.size()));
}

} // namespace cocoon
