// Chooses the image source for a reference: the one place where new sources (registry,
// OCI layout) plug in.
#include <fcntl.h>
#include <sys/stat.h>

#include "cocoon/error.h"
#include "cocoon/image.h"
#include "directory_image.h"
#include "squashfs_image.h"

namespace cocoon {

std::unique_ptr<ImageSource> open_image(const ImageReference& reference, const Config& config,
                                        uid_t uid, gid_t gid)
{
    if (reference.kind == ImageReference::Kind::Registry)
        fail("'{}' names a registry image; this cocoon build runs squashfs files and "
             "directories only (give a path such as ./image.sqsh)",
             reference.text);

    // O_NONBLOCK: a FIFO planted at the path must not hang the step.
    UniqueFd fd(open(reference.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd.valid()) {
        int error = errno;
        if (error == ENOENT)
            fail("image {} does not exist (check the path on the compute node)", reference.path);
        if (error == EACCES)
            fail("image {} is not readable by you (check its permissions)", reference.path);
        throw_errno(fmt::format("cannot open image {}", reference.path), error);
    }
    struct stat st {};
    if (fstat(fd.get(), &st) != 0)
        throw_errno(fmt::format("cannot stat image {}", reference.path));
    if (S_ISDIR(st.st_mode))
        return std::make_unique<DirectoryImage>(reference.path, std::move(fd));
    if (S_ISREG(st.st_mode))
        return std::make_unique<SquashfsImage>(reference.path, std::move(fd), config, uid, gid);
    fail("image {} is neither a squashfs file nor a directory", reference.path);
}

} // namespace cocoon
