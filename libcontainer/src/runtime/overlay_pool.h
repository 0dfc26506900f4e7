// Writable container roots (overlays of the image over a tmpfs), and the ones an image
// holder keeps for the steps it serves (warm mounts, writable root).
//
// A new overlay starts with no dentries or inodes of its own: every file a step looks up
// costs the overlay a lookup and an allocation, even on a warm image (an lstat walk of a
// Python tree: 1.37x the host on a step's new overlay, 1.16x on one that has seen it;
// docs/performance-kernel-mounts.md). The image holder therefore keeps a step's overlay
// for a later step, but only when nothing changed it after that step's setup: its tmpfs
// holds exactly the mount points the setup created, and the later step's plan is the same,
// so its setup creates the same ones. Such a step finds the very root a new overlay would
// give it, with its caches warm. An overlay the tasks wrote to is unmounted when its step
// ends, and nothing a step wrote is ever seen by another.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cocoon/unique_fd.h"

namespace cocoon {

// Mounts at `target` an overlay whose lower layer is `lower` and whose upper and work
// directories are on a tmpfs of `size` bytes mounted at `layers` (an empty directory):
// the writable container root. userxattr: the form an unprivileged user namespace may
// mount. The upper directory takes the mode of the image's root.
void mount_writable_overlay(const std::string& lower, const std::string& layers,
                            const std::string& target, uint64_t size);

// What a change to a file in a tmpfs always changes: its identity, its attributes and its
// change time (which a user cannot set back).
struct TreeEntry {
    ino_t inode = 0;
    mode_t mode = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const TreeEntry&) const = default;
};
// Every entry under a directory by its relative path ("" for the directory itself).
using TreeSnapshot = std::map<std::string, TreeEntry>;

// The entries under directory `dir` (not following symbolic links or other mounts);
// nullopt when it cannot be read or holds more than `limit` entries.
std::optional<TreeSnapshot> snapshot_tree(int dir, size_t limit);

class OverlayPool {
public:
    // `lower`: the image holder's mount of the image; `staging`: a directory on the image
    // holder's own tmpfs, where the overlays and their layers are mounted.
    OverlayPool(std::string lower, std::string staging);
    ~OverlayPool();
    OverlayPool(const OverlayPool&) = delete;
    OverlayPool& operator=(const OverlayPool&) = delete;

    // A detached clone of the overlay for the step holding `lease`: a kept one made for the
    // same `plan_key` and `size`, or a new one. Throws Error when none can be made.
    UniqueFd take(int lease, uint64_t plan_key, uint64_t size);
    // The step on `lease` has built its root: its layers as they are now are what a later
    // step may start from.
    void setup_done(int lease) noexcept;
    // The step on `lease` could not wait for setup_done: its overlay is not kept.
    void forget_setup(int lease) noexcept;
    // The step on `lease` has ended: its overlay is kept when its layers are as its setup
    // left them (and fewer than 8 others wait unused), else unmounted.
    void release(int lease) noexcept;

    // How many overlays exist, and how many no step holds (for tests).
    size_t size() const { return overlays_.size(); }
    size_t kept() const;

private:
    struct Overlay {
        unsigned id = 0;
        uint64_t plan_key = 0;
        uint64_t size = 0;
        int lease = -1;
        std::optional<TreeSnapshot> after_setup;
    };
    std::string layers_path(const Overlay& overlay) const;
    std::string root_path(const Overlay& overlay) const;
    bool unchanged_since_setup(const Overlay& overlay) const;
    void unmount(const Overlay& overlay) const noexcept;

    std::string lower_;
    std::string staging_;
    std::vector<Overlay> overlays_;
    unsigned next_id_ = 0;
};

// The key under which a step's overlay may be kept: a hash of its plan as format_plan
// prints it (the mount points its setup creates follow from the plan).
uint64_t overlay_plan_key(const std::string& plan_text);

} // namespace cocoon
