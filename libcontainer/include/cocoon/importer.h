// Importing images into the cache: registry images, OCI layouts and archives become one
// squashfs file each, shared by every task, step and `cocoon pull` that needs them.
//
// These functions live in libcocoon-import (with libcurl, libarchive and libcrypto), not in
// libcocoon: loading those libraries costs every process about 15 ms, and srun, slurmstepd
// and the holder of a step with an image file never need them. libcocoon loads
// libcocoon-import itself when a step's image must be imported. Before that, for an OCI
// layout or a registry image, it loads libcocoon-cache (libmd only, not libcrypto), which
// answers without any request when the caches hold the layout's image, or the image of a
// pinned digest or of a tag resolved within tag_check_interval.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cocoon/config.h"
#include "cocoon/reference.h"
#include "cocoon/unique_fd.h"

namespace cocoon {

struct ImportEvent {
    enum class Phase { Resolving, Downloading, Converting, Done };
    Phase phase = Phase::Resolving;
    std::string image; // canonical name or path
    size_t layer = 0; // Downloading: 1-based index of the current layer
    size_t layers = 0; // number of layers
    uint64_t bytes = 0; // Downloading: bytes received so far, all layers
    uint64_t total_bytes = 0; // sum of the layer sizes, when known
    bool cached = false; // Done: the image was already in the cache
};

using ImportProgress = std::function<void(const ImportEvent&)>;

struct ImportedImage {
    std::string digest; // manifest digest (cache key)
    std::string squashfs; // path of the cached squashfs file
    std::string config; // image configuration JSON, may be empty
    std::string reference;
    // The squashfs file, opened relative to the checked cache directory, with a shared lock:
    // the image is mounted from this descriptor, and cache eviction leaves it alone while
    // this (or a mount of it, which takes its own) lives.
    UniqueFd in_use;
};

// Makes sure the image of `reference` (a Registry, OciLayout, OciArchive or DockerArchive
// reference) is in the cache at `cache_dir` and returns it. Runs as the user whose
// credentials live under `home`. A tag is resolved to a digest on each use with one HEAD
// request; when the registry cannot be reached, an image already cached for that tag is
// used. tag_check_interval does not apply: `cocoon pull` asks every time.
ImportedImage ensure_image(const ImageReference& reference, const Config& config,
                           const std::string& cache_dir, const std::string& home,
                           const ImportProgress& progress);

// The digest a registry gives now for `reference` (a Registry reference): its pinned
// digest, or else the registry's answer for its tag (the manifest's HEAD; a GET where the
// HEAD names no digest). For a multi-platform image, the digest of its index. Runs as the
// user whose credentials live under `home`; throws Error when the registry cannot say.
// A registry's bearer token kept in the image cache at `cache_dir` is sent with the
// request, and one it gives is kept there (empty, or a cache that cannot be used: none).
std::string resolve_registry_digest(const ImageReference& reference, const Config& config,
                                    const std::string& cache_dir, const std::string& home);

// What `cocoon images` lists and `cocoon rmi` removes: one entry per name an image was
// used by (the same digest may appear under several names).
struct CacheEntry {
    std::string digest;
    std::string reference; // the name; empty for an image that has none left
    uint64_t size = 0;
    long long last_used = 0; // seconds since the epoch
};
std::vector<CacheEntry> list_cache(const std::string& cache_dir);
// Removes the name `what` (the image goes with its last name), or else the image whose
// digest (or a 12+ character prefix of its hex) is `what`, with all its names. Returns how
// many names or images went (0: nothing matched).
size_t remove_from_cache(const std::string& cache_dir, const std::string& what);

} // namespace cocoon

// ensure_image under a C name, which libcocoon looks up after loading libcocoon-import
// (dlsym); programs call ensure_image.
extern "C" void cocoon_import_ensure_image(const cocoon::ImageReference& reference,
                                           const cocoon::Config& config,
                                           const std::string& cache_dir, const std::string& home,
                                           const cocoon::ImportProgress& progress,
                                           cocoon::ImportedImage* result);

// libcocoon-cache's entry point: true, with `result` as ensure_image would return it, when
// the caches hold the image of `reference` and no request is needed (an OCI layout's image;
// a registry image whose digest is pinned, or whose tag a registry resolved on this node
// within config.tag_check_interval); false when libcocoon-import must be asked. Throws
// Error like ensure_image.
extern "C" bool cocoon_cache_find_image(const cocoon::ImageReference& reference,
                                        const cocoon::Config& config, const std::string& cache_dir,
                                        const cocoon::ImportProgress& progress,
                                        cocoon::ImportedImage* result);
