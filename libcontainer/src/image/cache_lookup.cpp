#include "cache_lookup.h"

#include <pwd.h>
#include <sys/file.h>

#include "cocoon/error.h"
#include "oci_layout.h"
#include "platform.h"

namespace cocoon {

void report(const ImportProgress& progress, const ImportEvent& event)
{
    if (progress)
        progress(event);
}

uid_t user_id(const std::string& user)
{
    if (!user.empty() && user.find_first_not_of("0123456789") == std::string::npos)
        return static_cast<uid_t>(std::stoul(user));
    struct passwd entry {};
    struct passwd* found = nullptr;
    std::vector<char> buffer(16384);
    if (getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found)
        fail("cocoon.yaml shared_cache_owner: no user '{}' on this node", user);
    return found->pw_uid;
}

ImportedImage to_imported(const CachedImage& image)
{
    return {image.digest, image.squashfs, image.config, image.reference, UniqueFd()};
}

std::string registry_key(const std::string& name_tag_or_digest)
{
    return name_tag_or_digest + "|" + node_architecture();
}

Caches::Caches(const Config& config, const std::string& cache_dir)
    : own(cache_dir)
{
    uid_t shared_owner = config.shared_caches.empty() ? 0 : user_id(config.shared_cache_owner);
    for (const auto& path : config.shared_caches)
        if (path != cache_dir)
            shared.emplace_back(path, ImageCache::Access::ReadOnly, shared_owner);
}

std::optional<CachedImage> Caches::find(const std::string& digest) const
{
    for (const ImageCache* cache : all())
        if (auto image = cache->find(digest))
            return image;
    return std::nullopt;
}

std::optional<CachedImage> Caches::find_ref(const std::string& key) const
{
    for (const ImageCache* cache : all())
        if (auto digest = cache->lookup_ref(key))
            if (auto image = find(*digest))
                return image;
    return std::nullopt;
}

std::optional<CachedImage> Caches::find_digest(const std::string& digest) const
{
    if (auto image = find_ref(registry_key(digest)))
        return image;
    return find(digest);
}

std::vector<const ImageCache*> Caches::all() const
{
    std::vector<const ImageCache*> caches;
    for (const auto& cache : shared)
        caches.push_back(&cache);
    caches.push_back(&own);
    return caches;
}

ImportedImage use_cached(Caches& caches, const CachedImage& image, const std::string& name,
                         const std::string& record_key, const ImportProgress& progress)
{
    caches.own.touch(image.digest);
    if (!record_key.empty())
        caches.own.remember_ref(record_key, image.digest, name);
    report(progress, {ImportEvent::Phase::Done, name, 0, 0, 0, 0, true});
    return to_imported(image);
}

std::optional<ImportedImage> find_without_request(const ImageReference& reference, Caches& caches,
                                                  time_t tag_resolved_since,
                                                  const ImportProgress& progress)
{
    std::string name = reference.canonical();
    // A layout's index and manifest are read (and hashed) at each use: they name the image.
    if (reference.kind == ImageReference::Kind::OciLayout) {
        LocalImage image = read_oci_layout(reference.path, reference.tag);
        auto cached = caches.find(image.digest);
        if (!cached)
            return std::nullopt;
        report(progress, {ImportEvent::Phase::Resolving, name});
        return use_cached(caches, *cached, name, name, progress);
    }
    if (reference.kind != ImageReference::Kind::Registry)
        return std::nullopt;
    // A pinned digest never changes.
    if (!reference.digest.empty()) {
        if (auto image = caches.find_digest(reference.digest)) {
            report(progress, {ImportEvent::Phase::Resolving, name});
            return use_cached(caches, *image, name, registry_key(name), progress);
        }
        return std::nullopt;
    }
    // The tag as srun's registry request resolved it for this step: that answer stands in
    // for this node's own, and the tag's record takes it.
    if (!reference.resolved_digest.empty()) {
        auto image = caches.find_digest(reference.resolved_digest);
        if (!image)
            return std::nullopt;
        report(progress, {ImportEvent::Phase::Resolving, name});
        ImportedImage result = use_cached(caches, *image, name, registry_key(name), progress);
        caches.own.mark_resolved(registry_key(name));
        return result;
    }
    if (tag_resolved_since <= 0)
        return std::nullopt;
    // The latest answer of any cache's record counts: the admin's pull may be newer than
    // the user's own, or older.
    std::optional<CachedImage> image;
    time_t latest = 0;
    for (const ImageCache* cache : caches.all()) {
        time_t resolved_at = 0;
        auto digest = cache->lookup_ref(registry_key(name), tag_resolved_since, &resolved_at);
        if (!digest || resolved_at < latest)
            continue;
        if (auto found = caches.find(*digest)) {
            image = found;
            latest = resolved_at;
        }
    }
    if (!image)
        return std::nullopt;
    report(progress, {ImportEvent::Phase::Resolving, name});
    // The tag's record stays as the registry last answered: recording it again here would
    // make it look resolved now.
    return use_cached(caches, *image, name, {}, progress);
}

ImportedImage hold_for_mount(Caches& caches, ImportedImage image, const Config& config)
{
    for (const ImageCache* cache : caches.all())
        if (image.squashfs.starts_with(cache->root() + "/images/")) {
            image.in_use = cache->open_squashfs(image.digest);
            break;
        }
    if (!image.in_use.valid())
        fail("image {} is in none of the caches", image.squashfs);
    flock(image.in_use.get(), LOCK_SH);
    if (config.cache_max_size > 0)
        caches.own.evict(config.cache_max_size);
    return image;
}

} // namespace cocoon
