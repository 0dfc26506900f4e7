#include "rootfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>

#include "cocoon/error.h"
#include "runtime/overlay_pool.h"
#include "util/sys.h"

namespace cocoon {

namespace {

// Staging area, in the container's private mount namespace only: the host's /tmp is
// hidden there, never touched. Host sources are opened before it is mounted.
constexpr const char* staging = "/tmp";
constexpr const char* staging_root = "/tmp/root";
constexpr const char* staging_image = "/tmp/image";
constexpr const char* staging_files = "/tmp/files";
// A writable root: the tmpfs of the overlay's upper and work directories.
constexpr const char* staging_upper = "/tmp/upper";

constexpr size_t max_generated_input = 4 << 20;

// Mount targets that must be directories of the container itself, never followed links.
const std::array<std::string, 4> system_mount_targets = {"/proc", "/sys", "/dev", "/tmp"};

std::pair<std::string, std::string> split_path(const std::string& path)
{
    auto slash = path.find_last_of('/');
    std::string parent = slash == 0 ? "/" : path.substr(0, slash);
    return {parent, path.substr(slash + 1)};
}

// The errors of a directory of the image we cannot add an entry to, which shadow() covers:
// a read-only image (EROFS), a directory that is not ours (EACCES, EPERM), and in a writable
// container a directory that overlayfs cannot copy up because its owner is not mapped in the
// container's user namespace (EOVERFLOW: a directory image owned by root, say).
bool cannot_add_entry_error(int error)
{
    return error == EROFS || error == EACCES || error == EPERM || error == EOVERFLOW;
}

class RootfsBuilder {
public:
    RootfsBuilder(const Plan& plan, ImageSource& image, const ContainerSpec& spec,
                  UniqueFd kept_overlay)
        : plan_(plan)
        , image_(image)
        , spec_(spec)
        , kept_overlay_(std::move(kept_overlay))
    {}

    void build()
    {
        sys::mount("", "/", nullptr, MS_REC | MS_PRIVATE, "", "cannot make mounts private");
        open_host_sources();
        prepare_staging();
        image_.mount(staging_image);
        UniqueFd image_root(open(staging_image, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!image_root.valid())
            throw_errno(fmt::format("cannot read image {}", plan_.image));
        struct stat st {};
        if (plan_.writable)
            mount_overlay();
        else if (fstat(image_root.get(), &st) == 0)
            chmod(staging_root, st.st_mode & 07777);
        root_ = UniqueFd(open(staging_root, O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!root_.valid())
            throw_errno("cannot open the container root");
        if (!plan_.writable)
            replicate(root_.get(), image_root.get());
        for (const auto& op : plan_.ops)
            apply(op);
        for (const auto& shadow : shadows_)
            sys::set_mount_attributes(shadow.get(), MOUNT_ATTR_RDONLY, false,
                                      "cannot make a mount point directory read-only");
        pivot();
    }

private:
    void open_host_sources()
    {
        for (const auto& op : plan_.ops) {
            if (op.kind != OpKind::BindHost)
                continue;
            UniqueFd fd(open(op.source.c_str(), O_PATH | O_CLOEXEC));
            if (!fd.valid()) {
                if (op.optional && errno == ENOENT)
                    continue;
                throw_errno(fmt::format("cannot bind {} into the container", op.source));
            }
            sources_.emplace(op.source, std::move(fd));
        }
    }

    void prepare_staging()
    {
        sys::mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700",
                   "cannot mount the staging tmpfs");
        for (const char* dir : {staging_root, staging_image, staging_files, staging_upper})
            if (mkdir(dir, 0700) != 0)
                throw_errno(fmt::format("cannot create {}", dir));
        if (!plan_.writable)
            sys::mount("tmpfs", staging_root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755",
                       "cannot mount the container root tmpfs");
    }

    // The writable root: the image as the lower layer of an overlay whose upper layer is
    // a tmpfs of writable_size bytes, private to this mount namespace (or one the job's image
    // holder kept, exactly as a new one would be after this setup: overlay_pool.h). Nothing
    // is written to the image or to the host.
    void mount_overlay()
    {
        if (!kept_overlay_.valid())
            return mount_writable_overlay(staging_image, staging_upper, staging_root,
                                          plan_.writable_size);
        if (syscall(SYS_move_mount, kept_overlay_.get(), "", AT_FDCWD, staging_root,
                    MOVE_MOUNT_F_EMPTY_PATH) != 0)
            throw_errno("cannot place the kept writable container root");
        kept_overlay_.reset();
    }

    UniqueFd resolve(const std::string& path, int flags)
    {
        return sys::open_in_root(root_.get(), path, flags);
    }

    // Creates `name` in `parent_path`; when the parent is read-only (it is part of the
    // image), covers it with a tmpfs that replicates its entries first.
    void create_entry(const std::string& parent_path, const std::string& name, mode_t type,
                      const std::string& link_target = {})
    {
        for (int attempt = 0; attempt < 2; ++attempt) {
            UniqueFd parent = ensure(parent_path, S_IFDIR);
            int rc;
            if (type == S_IFDIR) {
                rc = mkdirat(parent.get(), name.c_str(), 0755);
            } else if (type == S_IFLNK) {
                rc = symlinkat(link_target.c_str(), parent.get(), name.c_str());
            } else {
                rc = openat(parent.get(), name.c_str(),
                            O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (rc >= 0)
                    close(rc);
            }
            if (rc >= 0 || errno == EEXIST)
                return;
            if (attempt == 0 && cannot_add_entry_error(errno)) {
                shadow(parent_path);
                continue;
            }
            throw_errno(fmt::format("cannot create {}/{} in the container", parent_path, name));
        }
    }

    // Returns the object at `path` in the container, creating it (and missing parents)
    // with the given type when it does not exist.
    UniqueFd ensure(const std::string& path, mode_t type)
    {
        // The host's /proc, /sys, /dev and a private /tmp go exactly there: an image that
        // has a symbolic link in their place is refused rather than followed elsewhere.
        bool system_target = std::find(system_mount_targets.begin(), system_mount_targets.end(),
                                       path) != system_mount_targets.end();
        UniqueFd fd = resolve(path, O_PATH | (system_target ? O_NOFOLLOW : 0));
        if (!fd.valid()) {
            if (errno != ENOENT)
                throw_errno(fmt::format("cannot resolve {} in the container", path));
            auto [parent, name] = split_path(path);
            create_entry(parent, name, type);
            fd = resolve(path, O_PATH);
            if (!fd.valid())
                throw_errno(fmt::format("cannot resolve {} in the container", path));
        }
        struct stat st {};
        if (fstat(fd.get(), &st) != 0)
            throw_errno(fmt::format("cannot stat {} in the container", path));
        if (S_ISLNK(st.st_mode))
            fail("the image has a symbolic link at {}, where the container needs a directory "
                 "of its own: refusing the image",
                 path);
        if ((type == S_IFDIR) != S_ISDIR(st.st_mode))
            fail("cannot mount on {} in the container: the image has a {} there", path,
                 S_ISDIR(st.st_mode) ? "directory" : "file");
        return fd;
    }

    // Covers the directory at `path` with a tmpfs holding the same entries (bound from the
    // original), so new mount points can be created in a read-only image, or in a directory
    // of the image that a writable container cannot change.
    void shadow(const std::string& path)
    {
        UniqueFd original = resolve(path, O_RDONLY | O_DIRECTORY);
        if (!original.valid())
            throw_errno(fmt::format("cannot read {} in the image", path));
        struct stat st {};
        if (fstat(original.get(), &st) != 0)
            throw_errno(fmt::format("cannot stat {} in the image", path));
        sys::mount("tmpfs", sys::fd_path(original.get()), "tmpfs", MS_NOSUID | MS_NODEV,
                   fmt::format("mode={:o}", st.st_mode & 07777),
                   fmt::format("cannot create mount points under {}", path));
        UniqueFd covered = resolve(path, O_PATH | O_DIRECTORY);
        if (!covered.valid())
            throw_errno(fmt::format("cannot open {} in the container", path));
        replicate(covered.get(), original.get());
        shadows_.push_back(std::move(covered));
    }

    // Copies the entries of directory `from` into the empty tmpfs directory `into`:
    // symlinks are recreated, everything else is bound from the original.
    void replicate(int into, int from)
    {
        auto names = sys::directory_entries(from);
        if (!names)
            throw_errno("cannot list an image directory");
        for (const auto& name : *names) {
            struct stat st {};
            if (fstatat(from, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
                continue;
            if (S_ISLNK(st.st_mode)) {
                std::string target(PATH_MAX, '\0');
                ssize_t n = readlinkat(from, name.c_str(), target.data(), target.size());
                if (n < 0)
                    continue;
                target.resize(static_cast<size_t>(n));
                if (symlinkat(target.c_str(), into, name.c_str()) != 0)
                    throw_errno(fmt::format("cannot recreate symlink {}", name));
                continue;
            }
            int rc = S_ISDIR(st.st_mode) ? mkdirat(into, name.c_str(), st.st_mode & 07777)
                                         : openat(into, name.c_str(),
                                                  O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
            if (rc < 0)
                throw_errno(fmt::format("cannot create mount point {}", name));
            if (!S_ISDIR(st.st_mode))
                close(rc);
            sys::mount(sys::fd_path(from, name), sys::fd_path(into, name), nullptr,
                       MS_BIND | MS_REC, "", fmt::format("cannot bind image entry {}", name));
        }
    }

    void set_attributes(const std::string& path, const MountOp& op)
    {
        UniqueFd mounted = resolve(path, O_PATH);
        if (!mounted.valid())
            throw_errno(fmt::format("cannot open {} in the container", path));
        unsigned long long attributes = MOUNT_ATTR_NOSUID;
        if (!op.device)
            attributes |= MOUNT_ATTR_NODEV;
        if (op.read_only)
            attributes |= MOUNT_ATTR_RDONLY;
        if (op.noexec)
            attributes |= MOUNT_ATTR_NOEXEC;
        sys::set_mount_attributes(mounted.get(), attributes, op.recursive,
                                  fmt::format("cannot set mount options of {}", path));
        set_propagation(mounted.get(), op);
    }

    // The propagation a --container-mounts entry asked for (private, rprivate, slave,
    // rslave). Every mount of the container starts private already.
    static void set_propagation(int mounted, const MountOp& op)
    {
        if (op.propagation.empty())
            return;
        unsigned long flags = op.propagation.ends_with("private") ? MS_PRIVATE : MS_SLAVE;
        if (op.propagation.starts_with('r'))
            flags |= MS_REC;
        sys::mount("", sys::fd_path(mounted), nullptr, flags, "",
                   fmt::format("cannot make {} {}", op.target, op.propagation));
    }

    void bind(int source_fd, const MountOp& op)
    {
        struct stat st {};
        if (fstat(source_fd, &st) != 0)
            throw_errno(fmt::format("cannot stat {}", op.source));
        UniqueFd target = ensure(op.target, S_ISDIR(st.st_mode) ? S_IFDIR : S_IFREG);
        sys::mount(sys::fd_path(source_fd), sys::fd_path(target.get()), nullptr,
                   MS_BIND | (op.recursive ? MS_REC : 0), "",
                   fmt::format("cannot bind {} at {} in the container", op.source, op.target));
        set_attributes(op.target, op);
    }

    void generate(const MountOp& op)
    {
        std::string image_content;
        UniqueFd existing = resolve(op.target, O_RDONLY | O_NONBLOCK | O_NOCTTY);
        struct stat st {};
        if (existing.valid() && fstat(existing.get(), &st) == 0 && S_ISREG(st.st_mode))
            image_content = sys::read_file(existing.get(), max_generated_input);
        const auto& identity = spec_.identity;
        std::string content = op.source == "passwd" ? passwd_with_user(image_content, identity)
                                                    : group_with_user(image_content, identity);
        place_file(op, content, 0644);
    }

    // Writes `content` into the staging area and binds it at the operation's target.
    void place_file(const MountOp& op, const std::string& content, mode_t mode)
    {
        std::string file = fmt::format("{}/{}", staging_files, files_written_++);
        UniqueFd out(open(file.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode));
        if (!out.valid())
            throw_errno(fmt::format("cannot write {}", file));
        if (fchmod(out.get(), mode) != 0)
            throw_errno(fmt::format("cannot set the mode of {}", file));
        sys::write_all(out.get(), content);
        UniqueFd target = ensure(op.target, S_IFREG);
        sys::mount(file, sys::fd_path(target.get()), nullptr, MS_BIND, "",
                   fmt::format("cannot bind {} in the container", op.target));
        set_attributes(op.target, op);
    }

    void apply(const MountOp& op)
    {
        switch (op.kind) {
        case OpKind::BindHost: {
            auto source = sources_.find(op.source);
            if (source != sources_.end())
                bind(source->second.get(), op);
            return;
        }
        case OpKind::Tmpfs: {
            UniqueFd target = ensure(op.target, S_IFDIR);
            sys::mount("tmpfs", sys::fd_path(target.get()), "tmpfs", MS_NOSUID | MS_NODEV,
                       op.options, fmt::format("cannot mount a tmpfs at {}", op.target));
            return;
        }
        case OpKind::Symlink: {
            auto [parent, name] = split_path(op.target);
            create_entry(parent, name, S_IFLNK, op.source);
            return;
        }
        case OpKind::GeneratedFile: generate(op); return;
        case OpKind::WriteFile: place_file(op, op.content, op.executable ? 0755 : 0644); return;
        case OpKind::Mqueue: {
            UniqueFd target = ensure(op.target, S_IFDIR);
            sys::mount("mqueue", sys::fd_path(target.get()), "mqueue",
                       MS_NOSUID | MS_NODEV | MS_NOEXEC, "",
                       fmt::format("cannot mount a message queue filesystem at {}", op.target));
            return;
        }
        }
    }

    void pivot()
    {
        if (chdir(staging_root) != 0)
            throw_errno("cannot enter the container root");
        if (syscall(SYS_pivot_root, ".", ".") != 0)
            throw_errno("pivot_root");
        if (umount2(".", MNT_DETACH) != 0)
            throw_errno("cannot detach the host filesystem");
        if (chdir("/") != 0)
            throw_errno("chdir /");
        UniqueFd root(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
        unsigned long long attributes = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
        if (!plan_.writable)
            attributes |= MOUNT_ATTR_RDONLY;
        sys::set_mount_attributes(root.get(), attributes, false,
                                  plan_.writable ? "cannot set the options of the container root"
                                                 : "cannot make the container root read-only");
    }

    const Plan& plan_;
    ImageSource& image_;
    const ContainerSpec& spec_;
    UniqueFd kept_overlay_;
    UniqueFd root_;
    std::map<std::string, UniqueFd> sources_;
    std::vector<UniqueFd> shadows_;
    unsigned files_written_ = 0;
};

} // namespace

void assemble_rootfs(const Plan& plan, ImageSource& image, const ContainerSpec& spec,
                     UniqueFd kept_overlay)
{
    RootfsBuilder(plan, image, spec, std::move(kept_overlay)).build();
}

} // namespace cocoon
