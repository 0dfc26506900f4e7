// Layers -> one filesystem: merges the tar layers of an image into a single tar stream of
// its final filesystem, the input of the squashfs writer.
//
// Applies OCI whiteouts (.wh.NAME hides NAME of lower layers, .wh..wh..opq empties a
// directory of lower layers; neither affects its own layer), keeps hardlinks, symlinks,
// permissions and xattrs, and treats the layers as hostile: an entry whose path escapes the
// root ("..", an absolute path) or that would be written through a symlink is refused with
// an Error naming the layer and the entry; device nodes are skipped; setuid and setgid bits
// and security.capability xattrs are stripped. Caps from cocoon.yaml bound what the layers
// may hold together (bytes of file content, entries, path length) and so the merge's
// memory and time; each names its key when it is hit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cocoon/config.h"

namespace cocoon {

struct LayerLimits {
    uint64_t max_size; // image_max_size: bytes of file content, all layers together
    uint64_t max_entries; // image_max_entries: tar entries, all layers together
    uint64_t max_path_length; // image_max_path_length: bytes of one entry's path
};

LayerLimits layer_limits(const Config& config);

struct Layer {
    std::string path; // a tar file, plain, gzip or zstd compressed
    std::string digest; // for messages ("sha256:...")
};

class LayerArrivals;

// Writes the merged filesystem as a pax tar to `out_fd`, bottom layer first in `layers`.
// The stream holds each surviving entry once; upper layers' entries come first.
// Throws Error naming the cap and its cocoon.yaml key when the layers exceed `limits`.
// With `arrivals`, layers are read as they arrive (still downloading: layer_arrivals.h).
void merge_layers(const std::vector<Layer>& layers, int out_fd, const LayerLimits& limits,
                  LayerArrivals* arrivals = nullptr);

} // namespace cocoon
