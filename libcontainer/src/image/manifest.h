// Image manifests and indexes (OCI and Docker v2 schema 2), as registries and OCI layouts
// hold them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cocoon {

// The most a manifest or index body may be.
constexpr size_t max_manifest_size = 4 << 20;

struct BlobRef {
    std::string digest;
    std::string media_type;
    uint64_t size = 0;
};

// An image manifest for this node's platform.
struct ImageManifest {
    std::string digest; // of the manifest itself
    // Of the image index it was chosen from; empty when the reference named the manifest.
    std::string index_digest;
    BlobRef config;
    std::vector<BlobRef> layers;
};

// Parses a manifest or image index body (OCI or Docker v2 schema 2). For an index, returns
// the digest of the entry for linux/`architecture` in `selected` and no layers. Throws
// Error naming `what` for malformed JSON (or JSON beyond the caps of json_limits.h),
// unknown media types, a config or layer without its size, or a missing platform.
ImageManifest parse_manifest(const std::string& body, const std::string& digest,
                             const std::string& architecture, const std::string& what,
                             std::optional<std::string>* selected);

} // namespace cocoon
