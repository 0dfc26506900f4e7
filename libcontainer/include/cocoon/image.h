// Image references and image sources.
//
// A reference is what the user typed (--container=VALUE). An image source turns a
// reference into a read-only, nosuid, nodev mount; the container is assembled on top of
// it. Sources in this build: a squashfs file (mounted with squashfuse inside the user
// namespace, never extracted) and a directory holding an unpacked root filesystem.
// Registry references are parsed so they get a precise error until a registry source
// exists.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "cocoon/config.h"

namespace cocoon {

struct ImageReference {
    enum class Kind {
        Path,     // a squashfs file or a root filesystem directory on the node
        Registry, // an image name such as ubuntu:24.04 (not supported in this build)
    };
    Kind kind = Kind::Path;
    std::string text; // exactly what the user typed
    std::string path; // Kind::Path: absolute path, relative ones resolved against base_dir
};

// Parses and checks the syntax of an image reference; touches no file. Relative paths are
// resolved against `base_dir` (the step's working directory). Throws Error with a message
// that says which forms are accepted.
ImageReference parse_image_reference(std::string_view text, const std::string& base_dir);

// True for a directory that holds an OCI runtime bundle (config.json + rootfs), which
// belongs to Slurm's own oci.conf support rather than to cocoon.
bool is_oci_bundle(const std::string& path);

class ImageSource {
public:
    virtual ~ImageSource() = default;

    // Mounts the image read-only, nosuid, nodev at `target`. Called as the job user inside
    // the container's user and mount namespaces, while the host filesystem is still
    // visible.
    virtual void mount(const std::string& target) = 0;

    // Stops whatever keeps the mount alive (the FUSE server). Safe to call twice.
    virtual void stop() noexcept = 0;
};

// Opens the image as the calling user: errors such as a missing, unreadable or corrupt
// file surface here, before any namespace exists.
std::unique_ptr<ImageSource> open_image(const ImageReference& reference, const Config& config,
                                        uid_t uid, gid_t gid);

} // namespace cocoon
