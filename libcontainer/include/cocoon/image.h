// Image references and image sources.
//
// A reference is what the user typed (--container=VALUE). An image source turns a
// reference into a read-only, nosuid, nodev mount; the container is assembled on top of
// it. Sources in this build: a squashfs file (mounted with squashfuse inside the user
// namespace, never extracted) and a directory holding an unpacked root filesystem.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cocoon/config.h"
#include "cocoon/importer.h"
#include "cocoon/kernel_mount.h"
#include "cocoon/reference.h"

namespace cocoon {

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

    // An image of a shared cache while cocoon.yaml has kernel_mount: which cache and which
    // image, for the privileged side to check and mount with the kernel. Empty otherwise.
    virtual std::optional<TrustedImageRequest> trusted_image() const { return std::nullopt; }

    // Makes mount() move `mount` (the privileged side's detached kernel mount of this
    // image) into place instead of starting squashfuse.
    virtual void use_kernel_mount(UniqueFd mount) { (void)mount; }

    // After mount(): the read end of what the image's server (squashfuse) writes on its
    // stderr, for the holder to forward to the log; invalid when there is none.
    virtual UniqueFd take_output() { return {}; }
    // What names the image's file among the mounts a job keeps between its steps
    // (warm_mount_linger): "DEV-INO-SIZE-MTIME" of the opened squashfs file, so another
    // file, or the same path rewritten, never shares a mount. Empty for images that are
    // not squashfs files (a directory is bound from the host, already warm).
    virtual std::string mount_identity() const { return {}; }

    // The image configuration (OCI config JSON: Env, WorkingDir, Entrypoint, ...), empty
    // for images that have none (squashfs files, directories).
    virtual std::string config() const { return {}; }
};

struct ContainerSpec;

// Opens the image of `spec` as the calling user, importing it into the user's cache first
// when it comes from a registry or an image archive: errors such as a missing, unreadable
// or corrupt file, or an unreachable registry, surface here, before any namespace exists.
std::unique_ptr<ImageSource> open_image(const ContainerSpec& spec, const Config& config,
                                        const ImportProgress& progress);

} // namespace cocoon
