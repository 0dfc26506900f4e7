// Warm image mounts across the steps of a job (cocoon.yaml warm_mount_linger).
//
// Every step used to mount its image afresh, so its dentry, inode and page caches started
// cold. With warm_mount_linger, the first step of a job on a node that uses a squashfs
// image starts an "image holder": a holder program, run as the job user, that owns a user
// namespace (with the step's id maps) and a mount namespace in which the image is mounted
// (squashfuse, or the kernel's squashfs for a trusted image). A later step's holder joins
// that user namespace instead of creating one, copies the image holder's mount namespace
// (setns, then unshare(CLONE_NEWNS)) and clones the image mount from it: the same
// superblock, so the caches are warm. The plugin records the image holder like a named
// container (/run/cocoon/job-JOBID/, root's), and the job's end kills it; with
// warm_mount_across_jobs the record is the user's (/run/cocoon/user-UID/) and the image
// holder serves the user's later jobs too, until its linger time runs out.
//
// Counting: every step holder using the image holder holds one end of a socket pair (a
// "lease") whose other end the image holder polls. A step that ends, or dies, closes its
// end; the image holder exits `warm_mount_linger` seconds after its last lease went.
#pragma once

#include <sys/types.h>

#include <string>

#include "cocoon/unique_fd.h"

namespace cocoon {

// What a step holder receives to share an image holder's mount.
struct WarmMount {
    UniqueFd user; // the image holder's user namespace
    UniqueFd mnt; // its mount namespace, where the image is mounted
    UniqueFd lease; // counted by the image holder while it stays open
};

// Whether `key` can name a warm mount (what ImageSource::mount_identity gives: lowercase
// hex digits and '-', at most 80 characters). The plugin refuses anything else.
bool valid_warm_mount_key(const std::string& key);

// ROOT: takes a lease from the image holder `pid` (started at `start_time`, checked after
// the process is pinned with a pidfd) and opens its namespaces. The image holder keeps the
// sending end of its lease socket at a fixed descriptor (warm_lease_fd); root copies it
// with pidfd_getfd, sends one end of a new socket pair through it and waits (at most a
// few seconds) for the image holder's acknowledgement, after which it stays until the
// lease is closed. Throws Error when the image holder is gone or does not answer: the
// caller then lets the step mount its image itself.
WarmMount lease_warm_mount(pid_t pid, unsigned long long start_time);

} // namespace cocoon
