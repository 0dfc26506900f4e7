// Images on disk: OCI image layouts (and the archives unpacked into one), read and checked
// without any network or libarchive, so that the cache lookup can find their images too.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "layers.h"

namespace cocoon {

// The parts of an image found on disk (an OCI layout or an unpacked archive).
struct LocalImage {
    std::string digest; // cache key: manifest digest (OCI), or for a docker-archive the
        // digest of its configuration's and layers' digests
    std::string config; // configuration JSON
    std::vector<Layer> layers;
    // An OCI layout's layer blobs are checked against their digests only when the image is
    // converted, not on each use: the manifest (checked) names them all, so a cache hit on
    // its digest needs none of them, and hashing a large layer costs a step ~1 s per GB.
    std::string unchecked_layout;
};

// The whole regular file at `path`, at most `limit` bytes; throws Error when it is absent.
std::string read_text(const std::string& path, size_t limit);
// "sha256:<hex>" of the file at `path`.
std::string hash_file(const std::string& path);

// The image tagged `tag` (or the only one, with no tag) in the OCI layout at `layout`: its
// index, manifest (an image index is followed to this node's platform) and configuration
// are checked against their digests; its layers are not (check_layers does that).
LocalImage read_oci_layout(const std::string& layout, const std::string& tag);

// Before a conversion: every layer of `image` is what its digest says.
void check_layers(const LocalImage& image);

} // namespace cocoon
