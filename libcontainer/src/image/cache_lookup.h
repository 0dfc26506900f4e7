// Finding an image that is already in the caches (the admin's shared ones, then the
// user's). libcocoon-import uses it before importing; libcocoon-cache is the same lookup
// without libcurl and libarchive, which a step loads first so that an image the caches
// answer for costs no registry request and no loading of the importer.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "cache.h"
#include "cocoon/importer.h"

namespace cocoon {

// Tells `progress`, when there is one.
void report(const ImportProgress& progress, const ImportEvent& event);

// A user name or uid (cocoon.yaml shared_cache_owner) as a uid.
uid_t user_id(const std::string& user);

// A cached image as the importer returns it (not opened yet: hold_for_mount does that).
ImportedImage to_imported(const CachedImage& image);

// The key a registry name, tag or digest is recorded under on this node: images differ by
// architecture.
std::string registry_key(const std::string& name_tag_or_digest);

struct Caches {
    // The user's cache at `cache_dir` (created when absent) and the configured shared
    // ones, each checked as ImageCache does.
    Caches(const Config& config, const std::string& cache_dir);

    std::vector<ImageCache> shared;
    ImageCache own;

    std::optional<CachedImage> find(const std::string& digest) const;
    // The image a record of `key` points to, in the first cache that has both.
    std::optional<CachedImage> find_ref(const std::string& key) const;
    // The image of a registry's manifest or index digest: an index's digest is recorded
    // under its key on this node's architecture, a manifest's is the image's own.
    std::optional<CachedImage> find_digest(const std::string& digest) const;
    std::vector<const ImageCache*> all() const;
};

// Uses a cached image reached by the name `name`: marks it used and, with a `record_key`,
// records that key and name for it in the user's cache (then it is listed, removable and
// usable offline under this name too, also when it came under another).
ImportedImage use_cached(Caches& caches, const CachedImage& image, const std::string& name,
                         const std::string& record_key, const ImportProgress& progress);

// The image of `reference` when the caches hold it and no registry needs asking: an OCI
// layout's image, a registry image by its cached pinned digest, or (with
// `tag_resolved_since`, non-zero) by a tag a registry resolved on this node since then (the
// latest such answer among the caches).
// Anything else, and archives (which must be unpacked to be known): nullopt.
std::optional<ImportedImage> find_without_request(const ImageReference& reference, Caches& caches,
                                                  time_t tag_resolved_since,
                                                  const ImportProgress& progress);

// Opens the image's squashfs file relative to the checked images/ directory of its cache
// (never by its path) with a shared lock, so that no eviction removes it while it is
// mounted; then evicts, with cache_max_size.
ImportedImage hold_for_mount(Caches& caches, ImportedImage image, const Config& config);

} // namespace cocoon
