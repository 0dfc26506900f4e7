#include "directory_image.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cocoon/error.h"
#include "util/sys.h"

namespace cocoon {

DirectoryImage::DirectoryImage(std::string path, UniqueFd fd)
    : path_(std::move(path))
    , fd_(std::move(fd))
{
    if (faccessat(fd_.get(), ".", R_OK | X_OK, AT_EACCESS) != 0)
        fail("image directory {} is not readable by you (check its permissions)", path_);
}

void DirectoryImage::mount(const std::string& target)
{
    // The descriptor from open_image() belongs to the host's mount namespace, which a bind
    // may not take from: look the path up again here and check it is the same directory.
    UniqueFd here(open(path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    struct stat before {};
    struct stat now {};
    if (!here.valid() || fstat(fd_.get(), &before) != 0 || fstat(here.get(), &now) != 0 ||
        before.st_dev != now.st_dev || before.st_ino != now.st_ino)
        fail("image directory {} changed while the container was being created", path_);
    sys::mount(sys::fd_path(here.get()), target, nullptr, MS_BIND | MS_REC, "",
               fmt::format("cannot bind image directory {}", path_));
    UniqueFd mounted(open(target.c_str(), O_PATH | O_CLOEXEC | O_DIRECTORY));
    if (!mounted.valid())
        throw_errno(fmt::format("cannot open mounted image {}", path_));
    sys::set_mount_attributes(mounted.get(),
                              MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, true,
                              fmt::format("cannot make image {} read-only", path_));
}

} // namespace cocoon
