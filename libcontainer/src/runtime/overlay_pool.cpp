#include "overlay_pool.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "cocoon/error.h"
#include "cocoon/log.h"
#include "util/sys.h"

namespace cocoon {

namespace {

// More entries than a setup creates mount points for: such an overlay is not kept.
constexpr size_t max_kept_entries = 4096;
// Overlays kept while no step uses them, at most: each holds the dentries and inodes its
// steps looked up. Steps that run one after another need one; a wave of steps side by
// side, one each.
constexpr size_t max_kept_unused = 8;

TreeEntry entry_of(const struct stat& st)
{
    auto ns = [](const struct timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; };
    return {st.st_ino,  st.st_mode,     st.st_uid,     st.st_gid,
            st.st_size, ns(st.st_mtim), ns(st.st_ctim)};
}

bool add_tree(int dir, const std::string& prefix, size_t limit, TreeSnapshot& snapshot)
{
    auto names = sys::directory_entries(dir);
    if (!names)
        return false;
    for (const auto& name : *names) {
        struct stat st {};
        if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
            return false;
        std::string path = prefix + "/" + name;
        snapshot.emplace(path, entry_of(st));
        if (snapshot.size() > limit)
            return false;
        if (!S_ISDIR(st.st_mode))
            continue;
        UniqueFd child(openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!child.valid() || !add_tree(child.get(), path, limit, snapshot))
            return false;
    }
    return true;
}

} // namespace

void mount_writable_overlay(const std::string& lower, const std::string& layers,
                            const std::string& target, uint64_t size)
{
    sys::mount("tmpfs", layers, "tmpfs", MS_NOSUID | MS_NODEV,
               fmt::format("mode=0755,size={}", size),
               "cannot mount the tmpfs of the writable container root");
    UniqueFd image_root(open(lower.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat st {};
    mode_t mode =
        image_root.valid() && fstat(image_root.get(), &st) == 0 ? st.st_mode & 07777 : 0755;
    std::string upper = layers + "/upper";
    std::string work = layers + "/work";
    if (mkdir(upper.c_str(), mode) != 0 || mkdir(work.c_str(), 0700) != 0)
        throw_errno("cannot create the directories of the writable container root");
    chmod(upper.c_str(), mode);
    sys::mount("overlay", target, "overlay", MS_NOSUID | MS_NODEV,
               fmt::format("lowerdir={},upperdir={},workdir={},userxattr", lower, upper, work),
               "cannot mount the writable container root (overlayfs in a user namespace "
               "needs Linux 5.11 or later; --container-readonly does without it)");
}

std::optional<TreeSnapshot> snapshot_tree(int dir, size_t limit)
{
    struct stat st {};
    if (fstat(dir, &st) != 0)
        return std::nullopt;
    TreeSnapshot snapshot{{"", entry_of(st)}};
    if (!add_tree(dir, "", limit, snapshot))
        return std::nullopt;
    return snapshot;
}

uint64_t overlay_plan_key(const std::string& plan_text)
{
    // FNV-1a: only ever compared with keys this image holder was sent by the same build.
    uint64_t hash = 14695981039346656037ULL;
    for (char c : plan_text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 1099511628211ULL;
    }
    return hash;
}

OverlayPool::OverlayPool(std::string lower, std::string staging)
    : lower_(std::move(lower))
    , staging_(std::move(staging))
{}

OverlayPool::~OverlayPool()
{
    for (const auto& overlay : overlays_)
        unmount(overlay);
}

size_t OverlayPool::kept() const
{
    return static_cast<size_t>(std::count_if(overlays_.begin(), overlays_.end(),
                                             [](const Overlay& o) { return o.lease < 0; }));
}

std::string OverlayPool::layers_path(const Overlay& overlay) const
{
    return fmt::format("{}/layers-{}", staging_, overlay.id);
}

std::string OverlayPool::root_path(const Overlay& overlay) const
{
    return fmt::format("{}/root-{}", staging_, overlay.id);
}

UniqueFd OverlayPool::take(int lease, uint64_t plan_key, uint64_t size)
{
    auto found = std::find_if(overlays_.begin(), overlays_.end(), [&](const Overlay& o) {
        return o.lease < 0 && o.plan_key == plan_key && o.size == size;
    });
    if (found == overlays_.end()) {
        Overlay overlay{next_id_++, plan_key, size, -1, std::nullopt};
        std::string layers = layers_path(overlay);
        std::string root = root_path(overlay);
        try {
            if (mkdir(layers.c_str(), 0700) != 0 || mkdir(root.c_str(), 0700) != 0)
                throw_errno("cannot create the directories of a kept writable root");
            mount_writable_overlay(lower_, layers, root, size);
        } catch (const Error&) {
            unmount(overlay);
            throw;
        }
        overlays_.push_back(std::move(overlay));
        found = overlays_.end() - 1;
    }
    UniqueFd clone(static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, root_path(*found).c_str(),
                                            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
    if (!clone.valid())
        throw_errno("cannot clone a kept writable root");
    found->lease = lease;
    found->after_setup.reset();
    return clone;
}

void OverlayPool::setup_done(int lease) noexcept
{
    for (auto& overlay : overlays_) {
        if (overlay.lease != lease)
            continue;
        UniqueFd layers(open(layers_path(overlay).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (layers.valid())
            overlay.after_setup = snapshot_tree(layers.get(), max_kept_entries);
    }
}

void OverlayPool::forget_setup(int lease) noexcept
{
    for (auto& overlay : overlays_)
        if (overlay.lease == lease)
            overlay.after_setup.reset();
}

bool OverlayPool::unchanged_since_setup(const Overlay& overlay) const
{
    if (!overlay.after_setup)
        return false;
    UniqueFd layers(open(layers_path(overlay).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!layers.valid())
        return false;
    // One entry more than after the setup already tells the difference.
    auto now = snapshot_tree(layers.get(), overlay.after_setup->size());
    return now && *now == *overlay.after_setup;
}

void OverlayPool::release(int lease) noexcept
{
    for (auto it = overlays_.begin(); it != overlays_.end(); ++it) {
        if (it->lease != lease)
            continue;
        bool keep = kept() < max_kept_unused && unchanged_since_setup(*it);
        it->lease = -1;
        if (keep)
            return;
        unmount(*it);
        overlays_.erase(it);
        return;
    }
}

void OverlayPool::unmount(const Overlay& overlay) const noexcept
{
    std::string root = root_path(overlay);
    std::string layers = layers_path(overlay);
    umount2(root.c_str(), MNT_DETACH);
    umount2(layers.c_str(), MNT_DETACH);
    rmdir(root.c_str());
    rmdir(layers.c_str());
}

} // namespace cocoon
