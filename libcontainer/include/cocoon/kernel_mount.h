// Kernel-speed images: a squashfs file that cocoon built from digest-verified layers and
// that sits in an admin's shared cache nobody else can change (cocoon.yaml kernel_mount)
// is mounted with the kernel's squashfs through a read-only loop device instead of
// squashfuse. Every other file stays on FUSE: a malformed image must never reach the
// kernel's parser.
//
// The holder (the job user) only names the image: which shared cache (an index into the
// site's shared_caches) and which digest. The privileged side (root, in slurmstepd)
// decides on its own configuration and on opened descriptors whether the file is trusted,
// mounts it, and hands the holder a detached mount to move into the container.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>

#include "cocoon/config.h"
#include "cocoon/unique_fd.h"

namespace cocoon {

// What the holder asks for: images/HEX.sqsh of config.shared_caches[cache].
struct TrustedImageRequest {
    size_t cache = 0;
    std::string hex; // the manifest digest's 64 hex digits
};

// The wire form ("CACHE HEX") and its strict parser (throws Error on anything else).
std::string format_trusted_image_request(const TrustedImageRequest& request);
TrustedImageRequest parse_trusted_image_request(const std::string& text);

// ROOT CONTEXT. Mounts the requested image when config.kernel_mount is set and the file is
// trusted: every directory from / down to the cache's images/ owned by root and writable
// by nobody else (root-owned sticky directories above the cache excepted), no symbolic
// link anywhere, and the file a regular, root-owned, singly linked file not writable by
// group or others, not on FUSE. The loop device is one already bound to that very file
// (its inode, whole, read-only: another mount's, whose superblock and caches the kernel
// then shares), or one configured from the descriptor that was checked (read-only,
// autoclear: it goes with the last mount). The mount is
// read-only, nosuid, nodev, idmapped through `userns_fd` (the container's user namespace,
// so the image's owners look as they do through squashfuse), and detached: the caller
// passes it to the holder, which moves it into the container. Throws Error saying why the
// image is not trusted or could not be mounted; nothing is left behind then.
//
// With config.kernel_mount_linger and a `runtime_dir` (the plugin's root-only runtime
// directory), one mount of the image is also kept on the node for the next job
// (runtime/kept_kernel_mounts.h); a mount that cannot be kept is logged, not an error.
UniqueFd mount_trusted_squashfs(const Config& config, const TrustedImageRequest& request,
                                int userns_fd, const std::string& runtime_dir = {});

// ROOT CONTEXT. At the end of a step that kernel-mounted image `hex`: its kept mount's
// linger starts again from now. Nothing to do when none is kept.
void note_kept_kernel_mount_use(const std::string& runtime_dir, const std::string& hex);

// ROOT CONTEXT. Releases the kept mounts whose last use is at least `linger` seconds
// before `now` (0: all of them), and their tmpfs with the last one; returns how many.
// Where nothing is kept this costs one failed open.
int release_kept_kernel_mounts(const std::string& runtime_dir, uint64_t linger, time_t now);

// How many images the node keeps mounted now (`cocoon check`, as root).
int count_kept_kernel_mounts(const std::string& runtime_dir);

} // namespace cocoon
