// Layers -> one filesystem: merges the tar layers of an image into a single tar stream of
// its final filesystem, the input of the squashfs writer.
//
// Applies OCI whiteouts (.wh.NAME hides NAME of lower layers, .wh..wh..opq empties a
// directory of lower layers; neither affects its own layer), keeps hardlinks, symlinks,
// permissions and xattrs, and treats the layers as hostile: an entry whose path escapes the
// root ("..", an absolute path) or that would be written through a symlink is refused with
// an Error naming the layer and the entry; device nodes are skipped; setuid and setgid bits
// and security.capability xattrs are stripped.
#pragma once

#include <string>
#include <vector>

namespace cocoon {

struct Layer {
    std::string path;   // a tar file, plain, gzip or zstd compressed
    std::string digest; // for messages ("sha256:...")
};

// Writes the merged filesystem as a pax tar to `out_fd`, bottom layer first in `layers`.
// The stream holds each surviving entry once; upper layers' entries come first.
void merge_layers(const std::vector<Layer>& layers, int out_fd);

} // namespace cocoon
