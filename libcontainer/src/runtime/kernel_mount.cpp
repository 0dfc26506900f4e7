// ROOT CONTEXT (mount_trusted_squashfs): slurmstepd regains root for this one call. It
// reads no path or string from the user: the cache directory comes from the site's own
// cocoon.yaml, the holder supplies only an index into that list and 64 hex digits, both
// checked before use. The file is checked on its descriptor (runtime/trusted_file.h); the
// loop device is one already bound to that very file (same inode, whole file, read-only)
// or a new one bound to that descriptor, and the filesystem is created from the loop
// device, held open throughout: no path the user could change is opened in between, and
// the mount is checked to be of that device. With kernel_mount_linger a second mount of
// that same device is kept on the node (runtime/kept_kernel_mounts.h).
#include "cocoon/kernel_mount.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <linux/mount.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <optional>

#include "cocoon/error.h"
#include "cocoon/log.h"
#include "runtime/kept_kernel_mounts.h"
#include "runtime/trusted_file.h"
#include "util/sys.h"

namespace cocoon {

namespace {

// Another process may take the free loop device between the question and our claim.
constexpr int loop_attempts = 16;

// Binds a free loop device to `file`, read-only, detached automatically when its last user
// (the filesystem) goes. Returns the open loop device and its path.
std::pair<UniqueFd, std::string> attach_loop(int file)
{
    UniqueFd control(open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    if (!control.valid())
        throw_errno("cannot open /dev/loop-control");
    struct loop_config config {};
    config.fd = static_cast<uint32_t>(file);
    config.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
    for (int attempt = 0; attempt < loop_attempts; ++attempt) {
        int number = ioctl(control.get(), LOOP_CTL_GET_FREE);
        if (number < 0)
            throw_errno("cannot find a free loop device");
        std::string path = fmt::format("/dev/loop{}", number);
        UniqueFd loop(open(path.c_str(), O_RDWR | O_CLOEXEC));
        if (!loop.valid())
            throw_errno(fmt::format("cannot open {}", path));
        if (ioctl(loop.get(), LOOP_CONFIGURE, &config) == 0)
            return {std::move(loop), path};
        if (errno != EBUSY)
            throw_errno(fmt::format("cannot configure {}", path));
    }
    fail("no free loop device after {} attempts", loop_attempts);
}

// A loop device that already serves `file`, whole and read-only: another step's or a warm
// mount's, of any user. Mounting it again gives the kernel's existing superblock of the
// image, if one is mounted, with its page, dentry and inode caches warm, and the node keeps
// one copy of the image in memory. The device is identified by the inode it is bound to
// (a bound loop device holds its file, so that inode cannot pass to another file
// meanwhile); /sys/block's file names only preselect. Held open from the check on, the
// device can neither be detached (autoclear waits for the last opener) nor rebound.
std::optional<std::pair<UniqueFd, std::string>> find_loop(int file, const std::string& name)
{
    struct stat image {};
    if (fstat(file, &image) != 0)
        throw_errno("cannot inspect the image file");
    std::unique_ptr<DIR, int (*)(DIR*)> block(opendir("/sys/block"), closedir);
    if (!block)
        return std::nullopt;
    std::optional<std::pair<UniqueFd, std::string>> found;
    while (!found) {
        struct dirent* entry = readdir(block.get());
        if (!entry)
            break;
        std::string device = entry->d_name;
        if (device.rfind("loop", 0) != 0)
            continue;
        std::optional<std::string> backing;
        try { // only bound loop devices have the file
            backing = sys::read_regular_file(fmt::format("/sys/block/{}/loop/backing_file", device),
                                             4096);
        } catch (const Error&) {
        }
        if (!backing || !backing->ends_with("/" + name + "\n"))
            continue;
        std::string path = "/dev/" + device;
        UniqueFd loop(open(path.c_str(), O_RDONLY | O_CLOEXEC));
        struct loop_info64 info {};
        if (!loop.valid() || ioctl(loop.get(), LOOP_GET_STATUS64, &info) != 0)
            continue;
        if (info.lo_device == image.st_dev && info.lo_inode == image.st_ino &&
            info.lo_offset == 0 && info.lo_sizelimit == 0 &&
            (info.lo_flags & LO_FLAGS_READ_ONLY) != 0)
            found.emplace(std::move(loop), path);
    }
    return found;
}

int fs_config(int fs, unsigned command, const char* key, const char* value)
{
    return static_cast<int>(syscall(SYS_fsconfig, fs, command, key, value, 0));
}

// A detached, read-only squashfs mount of the block device `device`.
UniqueFd mount_squashfs(const std::string& device)
{
    UniqueFd fs(static_cast<int>(syscall(SYS_fsopen, "squashfs", FSOPEN_CLOEXEC)));
    if (!fs.valid())
        throw_errno("the kernel has no squashfs filesystem");
    if (fs_config(fs.get(), FSCONFIG_SET_STRING, "source", device.c_str()) != 0 ||
        fs_config(fs.get(), FSCONFIG_SET_FLAG, "ro", nullptr) != 0 ||
        fs_config(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr) != 0)
        throw_errno(fmt::format("cannot mount {} as squashfs", device));
    UniqueFd mount(
        static_cast<int>(syscall(SYS_fsmount, fs.get(), FSMOUNT_CLOEXEC,
                                 MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)));
    if (!mount.valid())
        throw_errno(fmt::format("cannot create a mount of {}", device));
    return mount;
}

// Shows the image's owners through the container's user namespace, as squashfuse does:
// the image's root is the container's root.
void map_owners(int mount, int userns_fd)
{
    struct mount_attr attr {};
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<__u64>(userns_fd);
    if (syscall(SYS_mount_setattr, mount, "", AT_EMPTY_PATH, &attr, sizeof(attr)) != 0)
        throw_errno("cannot map the image's owners into the container (idmapped squashfs "
                    "mounts need a recent kernel)");
}

} // namespace

std::string format_trusted_image_request(const TrustedImageRequest& request)
{
    return fmt::format("{} {}", request.cache, request.hex);
}

TrustedImageRequest parse_trusted_image_request(const std::string& text)
{
    auto space = text.find(' ');
    std::string index = text.substr(0, space);
    TrustedImageRequest request;
    if (space == std::string::npos || index.empty() || index.size() > 4 ||
        index.find_first_not_of("0123456789") != std::string::npos)
        fail("malformed kernel mount request");
    request.cache = std::stoul(index);
    request.hex = text.substr(space + 1);
    if (!is_image_hex(request.hex))
        fail("malformed kernel mount request");
    return request;
}

UniqueFd mount_trusted_squashfs(const Config& config, const TrustedImageRequest& request,
                                int userns_fd, const std::string& runtime_dir)
{
    if (!config.kernel_mount)
        fail("kernel_mount is off in cocoon.yaml");
    if (request.cache >= config.shared_caches.size() || !is_image_hex(request.hex))
        fail("the image is not in a shared cache of cocoon.yaml");
    const std::string& cache = config.shared_caches[request.cache];
    try {
        UniqueFd file = open_root_owned_file(cache + "/images", request.hex + ".sqsh");
        char magic[4] = {};
        if (pread(file.get(), magic, sizeof(magic), 0) != sizeof(magic) ||
            std::memcmp(magic, "hsqs", 4) != 0)
            fail("{}/images/{}.sqsh is not a squashfs file", cache, request.hex);
        auto found = find_loop(file.get(), request.hex + ".sqsh");
        auto [loop, device] = found ? std::move(*found) : attach_loop(file.get());
        UniqueFd mount = mount_squashfs(device);
        // The filesystem is the one on the device checked above, not on another that came
        // to be at its path.
        struct stat mounted {};
        struct stat checked {};
        if (fstat(mount.get(), &mounted) != 0 || fstat(loop.get(), &checked) != 0 ||
            mounted.st_dev != checked.st_rdev)
            fail("the mount of {} is not of the device that was checked", device);
        if (config.kernel_mount_linger > 0 && !runtime_dir.empty()) {
            try {
                const std::string& path = device; // a structured binding cannot be captured
                keep_kernel_mount(runtime_dir, request.hex, checked.st_rdev,
                                  config.kernel_mount_linger,
                                  [&path] { return mount_squashfs(path); });
            } catch (const Error& e) {
                log(LogLevel::Info, "image {}: not kept on the node: {}", request.hex, e.what());
            }
        }
        map_owners(mount.get(), userns_fd);
        return mount; // the loop device goes with the last reference to this mount
    } catch (const Error& e) {
        throw e.wrap("not mounted by the kernel");
    }
}

} // namespace cocoon
