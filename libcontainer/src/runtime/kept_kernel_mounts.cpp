// ROOT CONTEXT: see kept_kernel_mounts.h. Every path is a fixed name or 64 checked hex
// digits inside the runtime directory, which must be root's with mode 0700; each is opened
// relative to a held descriptor without following symbolic links.
#include "runtime/kept_kernel_mounts.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "cocoon/error.h"
#include "cocoon/kernel_mount.h"
#include "util/sys.h"

namespace cocoon {

bool is_image_hex(const std::string& hex)
{
    return hex.size() == 64 && hex.find_first_not_of("0123456789abcdef") == std::string::npos;
}

namespace {

constexpr const char* kept_dir_name = "kernel-mounts";
constexpr const char* lock_name = "kernel-mounts.lock";
constexpr const char* used_suffix = ".used";

// The runtime directory, root's and closed to everyone else (created with `create`); an
// invalid descriptor when it does not exist and may not be created.
UniqueFd open_runtime_dir(const std::string& path, bool create)
{
    if (create && mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
        throw_errno(fmt::format("cannot create {}", path));
    UniqueFd dir(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid()) {
        if (errno == ENOENT && !create)
            return dir;
        throw_errno(fmt::format("cannot open {}", path));
    }
    struct stat st {};
    if (fstat(dir.get(), &st) != 0 || st.st_uid != 0 || (st.st_mode & 077) != 0)
        fail("{} is not root's with mode 0700", path);
    return dir;
}

// Keeping, noting a use and releasing exclude one another (steps of several jobs, the
// prologs and epilogs).
UniqueFd lock_kept_mounts(int runtime_dir)
{
    UniqueFd lock(openat(runtime_dir, lock_name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!lock.valid())
        throw_errno(fmt::format("cannot open {}", lock_name));
    while (flock(lock.get(), LOCK_EX) != 0)
        if (errno != EINTR)
            throw_errno(fmt::format("cannot lock {}", lock_name));
    return lock;
}

// Whether `name` in `dir` is the root of a mount; and its device.
std::optional<dev_t> mount_root_device(int dir, const std::string& name)
{
    struct statx st {};
    if (statx(dir, name.c_str(), AT_SYMLINK_NOFOLLOW, STATX_TYPE, &st) != 0 ||
        (st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) == 0 ||
        (st.stx_attributes & STATX_ATTR_MOUNT_ROOT) == 0)
        return std::nullopt;
    return makedev(st.stx_dev_major, st.stx_dev_minor);
}

// The directory of the kept mounts, a private tmpfs: mounted first with `create`; an
// invalid descriptor when it is not there.
UniqueFd open_kept_dir(int runtime_dir, bool create)
{
    if (!mount_root_device(runtime_dir, kept_dir_name)) {
        if (!create)
            return UniqueFd();
        if (mkdirat(runtime_dir, kept_dir_name, 0700) != 0 && errno != EEXIST)
            throw_errno(fmt::format("cannot create {}", kept_dir_name));
        // A tmpfs of its own, private, so that the kept mounts are in this mount namespace
        // alone: none is copied into another namespace, where it would hold the image.
        std::string target = sys::fd_path(runtime_dir, kept_dir_name);
        sys::mount("cocoon-kept", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   "mode=0700,size=64k,nr_inodes=1024", "cannot mount the kept mounts' tmpfs");
        if (::mount(nullptr, target.c_str(), nullptr, MS_PRIVATE, nullptr) != 0) {
            int saved = errno;
            umount2(target.c_str(), MNT_DETACH);
            errno = saved;
            throw_errno("cannot make the kept mounts' tmpfs private");
        }
    }
    UniqueFd dir(
        openat(runtime_dir, kept_dir_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid())
        throw_errno(fmt::format("cannot open {}", kept_dir_name));
    struct stat st {};
    if (fstat(dir.get(), &st) != 0 || st.st_uid != 0 || (st.st_mode & 077) != 0)
        fail("{} is not root's with mode 0700", kept_dir_name);
    return dir;
}

// Drops the kept mount `name` (the kernel frees the superblock with its last mount) and
// its record of use.
void release(int dir, const std::string& name)
{
    umount2(sys::fd_path(dir, name).c_str(), MNT_DETACH | UMOUNT_NOFOLLOW); // EINVAL: none
    unlinkat(dir, name.c_str(), AT_REMOVEDIR);
    unlinkat(dir, (name + used_suffix).c_str(), 0);
}

// Releases the kept mounts (but `keep`) last used `linger` seconds or more before `now`;
// returns how many it released and how many remain.
std::pair<int, int> release_expired(int dir, uint64_t linger, time_t now, const std::string& keep)
{
    auto names = sys::directory_entries(dir);
    if (!names)
        throw_errno(fmt::format("cannot list {}", kept_dir_name));
    int released = 0;
    int remaining = 0;
    for (const auto& name : *names) {
        if (name.ends_with(used_suffix)) {
            std::string image = name.substr(0, name.size() - std::string(used_suffix).size());
            struct stat st {};
            if (is_image_hex(image) && fstatat(dir, image.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
                unlinkat(dir, name.c_str(), 0); // the record of a mount released by hand
            continue;
        }
        if (!is_image_hex(name))
            continue;
        if (name == keep) {
            ++remaining;
            continue;
        }
        struct stat used {};
        bool expired =
            linger == 0 ||
            fstatat(dir, (name + used_suffix).c_str(), &used, AT_SYMLINK_NOFOLLOW) != 0 ||
            now - used.st_mtime >= static_cast<time_t>(linger) || used.st_mtime > now;
        if (expired) {
            release(dir, name);
            ++released;
        } else {
            ++remaining;
        }
    }
    return {released, remaining};
}

void note_use(int dir, const std::string& hex)
{
    UniqueFd used(openat(dir, (hex + used_suffix).c_str(),
                         O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!used.valid() || futimens(used.get(), nullptr) != 0)
        throw_errno(fmt::format("cannot note the use of {}", hex));
}

} // namespace

void keep_kernel_mount(const std::string& runtime_dir, const std::string& hex, dev_t device,
                       uint64_t linger, const std::function<UniqueFd()>& mount_again)
{
    if (!is_image_hex(hex))
        fail("'{}' does not name an image", hex);
    UniqueFd runtime = open_runtime_dir(runtime_dir, true);
    UniqueFd lock = lock_kept_mounts(runtime.get());
    UniqueFd dir = open_kept_dir(runtime.get(), true);
    release_expired(dir.get(), linger, time(nullptr), hex);
    if (auto kept = mount_root_device(dir.get(), hex); kept && *kept == device) {
        note_use(dir.get(), hex);
        return;
    }
    // Another file's (the image was removed and pulled again), or a leftover directory.
    release(dir.get(), hex);
    if (mkdirat(dir.get(), hex.c_str(), 0700) != 0)
        throw_errno(fmt::format("cannot create {}/{}", kept_dir_name, hex));
    try {
        UniqueFd mount = mount_again();
        struct stat mounted {};
        if (fstat(mount.get(), &mounted) != 0 || mounted.st_dev != device)
            fail("the second mount of {} is not of its device", hex);
        if (syscall(SYS_move_mount, mount.get(), "", dir.get(), hex.c_str(),
                    MOVE_MOUNT_F_EMPTY_PATH) != 0)
            throw_errno(fmt::format("cannot attach the kept mount of {}", hex));
        note_use(dir.get(), hex);
    } catch (...) {
        release(dir.get(), hex);
        throw;
    }
}

void note_kept_kernel_mount_use(const std::string& runtime_dir, const std::string& hex)
{
    if (!is_image_hex(hex))
        return;
    UniqueFd runtime = open_runtime_dir(runtime_dir, false);
    if (!runtime.valid() || !mount_root_device(runtime.get(), kept_dir_name))
        return;
    UniqueFd lock = lock_kept_mounts(runtime.get());
    UniqueFd dir = open_kept_dir(runtime.get(), false);
    if (dir.valid() && mount_root_device(dir.get(), hex))
        note_use(dir.get(), hex);
}

int release_kept_kernel_mounts(const std::string& runtime_dir, uint64_t linger, time_t now)
{
    UniqueFd runtime = open_runtime_dir(runtime_dir, false);
    if (!runtime.valid() || !mount_root_device(runtime.get(), kept_dir_name))
        return 0;
    UniqueFd lock = lock_kept_mounts(runtime.get());
    UniqueFd dir = open_kept_dir(runtime.get(), false);
    if (!dir.valid())
        return 0;
    auto [released, remaining] = release_expired(dir.get(), linger, now, "");
    if (remaining == 0) {
        dir = UniqueFd();
        std::string path = sys::fd_path(runtime.get(), kept_dir_name);
        if (umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0)
            throw_errno(fmt::format("cannot unmount {}/{}", runtime_dir, kept_dir_name));
        unlinkat(runtime.get(), kept_dir_name, AT_REMOVEDIR);
    }
    return released;
}

int count_kept_kernel_mounts(const std::string& runtime_dir)
{
    UniqueFd runtime = open_runtime_dir(runtime_dir, false);
    if (!runtime.valid() || !mount_root_device(runtime.get(), kept_dir_name))
        return 0;
    UniqueFd dir = open_kept_dir(runtime.get(), false);
    auto names = dir.valid() ? sys::directory_entries(dir.get()) : std::nullopt;
    if (!names)
        return 0;
    return static_cast<int>(std::count_if(names->begin(), names->end(), [&dir](const auto& name) {
        return is_image_hex(name) && mount_root_device(dir.get(), name);
    }));
}

} // namespace cocoon
