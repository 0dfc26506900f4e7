// ROOT CONTEXT: called by slurmstepd (as root) before a file is loop-mounted. It only
// opens and inspects; it creates, changes and follows nothing.
#include "trusted_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "cocoon/error.h"

namespace cocoon {

namespace {

constexpr long fuse_magic = 0x65735546; // FUSE_SUPER_MAGIC (not in every linux/magic.h)

// One component `name` below `parent`: never a symbolic link, never outside `parent`.
UniqueFd open_component(int parent, const std::string& name, int flags)
{
    struct open_how how {};
    how.flags = static_cast<__u64>(flags | O_NOFOLLOW | O_CLOEXEC);
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH;
    int fd;
    do {
        fd = static_cast<int>(syscall(SYS_openat2, parent, name.c_str(), &how, sizeof(how)));
    } while (fd < 0 && errno == EAGAIN);
    return UniqueFd(fd);
}

struct stat stat_of(int fd, const std::string& path)
{
    struct stat st {};
    if (fstat(fd, &st) != 0)
        throw_errno(fmt::format("cannot stat {}", path));
    return st;
}

void check_directory(int fd, const std::string& path, bool sticky_allowed)
{
    struct stat st = stat_of(fd, path);
    if (!S_ISDIR(st.st_mode))
        fail("{} is not a directory", path);
    if (st.st_uid != 0)
        fail("{} is owned by uid {}, not root", path, st.st_uid);
    bool sticky = (st.st_mode & S_ISVTX) != 0;
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && !(sticky_allowed && sticky))
        fail("{} is writable by its group or others (mode {:o})", path, st.st_mode & 07777);
}

std::vector<std::string> components(const std::string& path)
{
    if (!path.starts_with('/'))
        fail("{} is not an absolute path", path);
    std::vector<std::string> parts;
    size_t start = 1;
    while (start <= path.size()) {
        size_t end = std::min(path.find('/', start), path.size());
        std::string part = path.substr(start, end - start);
        if (part == "..")
            fail("{} has a '..' component", path);
        if (!part.empty() && part != ".")
            parts.push_back(part);
        start = end + 1;
    }
    return parts;
}

} // namespace

UniqueFd open_root_owned_file(const std::string& directory, const std::string& name)
{
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
        fail("'{}' is not a file name", name);
    UniqueFd dir(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid())
        throw_errno("cannot open /");
    std::string shown;
    auto parts = components(directory);
    check_directory(dir.get(), "/", parts.size() > 0);
    for (size_t i = 0; i < parts.size(); ++i) {
        shown += "/" + parts[i];
        UniqueFd next = open_component(dir.get(), parts[i], O_PATH | O_DIRECTORY);
        if (!next.valid()) {
            if (errno == ELOOP || errno == ENOTDIR || errno == EXDEV)
                fail("{} is a symbolic link or not a directory", shown);
            throw_errno(fmt::format("cannot open {}", shown));
        }
        // The last directory (the one that holds the file) must be closed to everyone.
        check_directory(next.get(), shown, i + 1 < parts.size());
        dir = std::move(next);
    }
    std::string path = (shown.empty() ? "" : shown) + "/" + name;
    UniqueFd file = open_component(dir.get(), name, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (!file.valid()) {
        if (errno == ELOOP)
            fail("{} is a symbolic link", path);
        throw_errno(fmt::format("cannot open {}", path));
    }
    struct stat st = stat_of(file.get(), path);
    if (!S_ISREG(st.st_mode))
        fail("{} is not a regular file", path);
    if (st.st_uid != 0)
        fail("{} is owned by uid {}, not root", path, st.st_uid);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        fail("{} is writable by its group or others (mode {:o})", path, st.st_mode & 07777);
    if (st.st_nlink != 1)
        fail("{} has {} hard links (a trusted image has exactly one)", path, st.st_nlink);
    struct statfs fs {};
    if (fstatfs(file.get(), &fs) != 0)
        throw_errno(fmt::format("cannot stat the filesystem of {}", path));
    if (fs.f_type == fuse_magic)
        fail("{} is on a FUSE filesystem", path);
    return file;
}

} // namespace cocoon
