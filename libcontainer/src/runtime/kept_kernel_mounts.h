// Kernel mounts kept on the node (cocoon.yaml kernel_mount_linger): one mount of each
// trusted image stays after the last step that used it, so that the kernel keeps its
// superblock, and with it the image's dentry, inode and page caches, for the next job of
// any user in the same image. Without it the superblock goes with the last step's mount
// namespace and the next job starts cold.
//
//   RUNTIME_DIR/kernel-mounts.lock   flock: keeping, noting a use and releasing exclude
//                                    each other
//   RUNTIME_DIR/kernel-mounts/       a tmpfs (root's, 0700, private: nothing mounted under
//                                    it propagates to other mount namespaces), mounted
//                                    while it holds a kept mount and unmounted with the last
//     HEX/                           the mount point of image HEX's kept mount (read-only,
//                                    nosuid, nodev, not idmapped; no user reaches it)
//     HEX.used                       its last use: the mtime, set when a step mounts the
//                                    image and when that step ends
//
// A kept mount is released once its last use is kernel_mount_linger ago: at the next
// kernel mount on the node, and at every job's start and end (the plugin's job prolog and
// epilog). Releasing it only drops a reference: steps that still run in the image keep
// theirs.
//
// ROOT CONTEXT: everything here runs as root in slurmstepd (or in the prolog and epilog).
// The only name taken from elsewhere is the image's 64 hex digits, checked by the caller;
// every path is inside the root-only runtime directory, opened without following links.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <sys/types.h>

#include "cocoon/unique_fd.h"

namespace cocoon {

// Keeps a mount of image `hex` (the filesystem on block device `device`) under
// `runtime_dir`, unless one of that device is kept already; notes the use either way and
// releases the kept mounts whose last use is `linger` seconds ago. `mount_again` makes a
// new detached mount of the device: the kernel gives it the existing superblock. Throws
// Error (the caller logs it: a mount that cannot be kept is no reason to fail the step).
void keep_kernel_mount(const std::string& runtime_dir, const std::string& hex, dev_t device,
                       uint64_t linger, const std::function<UniqueFd()>& mount_again);

// Whether `hex` names an image here: the 64 lowercase hex digits of its manifest digest.
bool is_image_hex(const std::string& hex);

// note_kept_kernel_mount_use, release_kept_kernel_mounts and count_kept_kernel_mounts, for
// the plugin and `cocoon check`, are in cocoon/kernel_mount.h.

} // namespace cocoon
