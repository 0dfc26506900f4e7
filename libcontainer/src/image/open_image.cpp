// Chooses the image source for a reference: the one place where new sources (registry,
// OCI layout) plug in.
#include <fcntl.h>
#include <sys/stat.h>

#include "cocoon/error.h"
#include "cocoon/image.h"
#include "directory_image.h"
#include "squashfs_image.h"
#include "cocoon/spec.h"

namespace cocoon {

namespace {

// An imported image: its cached squashfs file, plus the image configuration.
class ImportedSquashfsImage final : public ImageSource {
public:
    ImportedSquashfsImage(std::unique_ptr<ImageSource> squashfs, std::string config)
        : squashfs_(std::move(squashfs)), config_(std::move(config))
    {
    }
    void mount(const std::string& target) override { squashfs_->mount(target); }
    void stop() noexcept override { squashfs_->stop(); }
    std::string config() const override { return config_; }

private:
    std::unique_ptr<ImageSource> squashfs_;
    std::string config_;
};

std::unique_ptr<ImageSource> open_path(const std::string& path, const Config& config, uid_t uid,
                                       gid_t gid);

} // namespace

std::unique_ptr<ImageSource> open_image(const ContainerSpec& spec, const Config& config,
                                        const ImportProgress& progress)
{
    const auto& reference = spec.image;
    const auto& identity = spec.identity;
    if (reference.kind == ImageReference::Kind::Path)
        return open_path(reference.path, config, identity.uid, identity.gid);
    // Mounted from the descriptor the cache opened (and locked): never reopened by path.
    auto imported = ensure_image(reference, config, spec.cache_dir, identity.home, progress);
    return std::make_unique<ImportedSquashfsImage>(
        std::make_unique<SquashfsImage>(imported.squashfs, std::move(imported.in_use), config,
                                        identity.uid, identity.gid),
        imported.config);
}

namespace {

std::unique_ptr<ImageSource> open_path(const std::string& path, const Config& config, uid_t uid,
                                       gid_t gid)
{

    // O_NONBLOCK: a FIFO planted at the path must not hang the step.
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd.valid()) {
        int error = errno;
        if (error == ENOENT)
            fail("image {} does not exist (check the path on the compute node)", path);
        if (error == EACCES)
            fail("image {} is not readable by you (check its permissions)", path);
        throw_errno(fmt::format("cannot open image {}", path), error);
    }
    struct stat st {};
    if (fstat(fd.get(), &st) != 0)
        throw_errno(fmt::format("cannot stat image {}", path));
    if (S_ISDIR(st.st_mode))
        return std::make_unique<DirectoryImage>(path, std::move(fd));
    if (S_ISREG(st.st_mode))
        return std::make_unique<SquashfsImage>(path, std::move(fd), config, uid, gid);
    fail("image {} is neither a squashfs file nor a directory", path);
}

} // namespace

} // namespace cocoon
