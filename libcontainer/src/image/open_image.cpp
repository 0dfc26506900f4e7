// Chooses the image source for a reference: the one place where new sources (registry,
// OCI layout) plug in.
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "cocoon/error.h"
#include "cocoon/image.h"
#include "cocoon/spec.h"
#include "directory_image.h"
#include "image/import_loader.h"
#include "squashfs_image.h"

namespace cocoon {

namespace {

// An imported image: its cached squashfs file, plus the image configuration. From a shared
// cache (with kernel_mount) it may come mounted by the kernel instead of squashfuse.
class ImportedSquashfsImage final : public ImageSource {
public:
    ImportedSquashfsImage(std::unique_ptr<ImageSource> squashfs, std::string config,
                          std::optional<TrustedImageRequest> trusted)
        : squashfs_(std::move(squashfs))
        , config_(std::move(config))
        , trusted_(std::move(trusted))
    {}
    void mount(const std::string& target) override
    {
        if (!kernel_mount_.valid())
            return squashfs_->mount(target);
        if (syscall(SYS_move_mount, kernel_mount_.get(), "", AT_FDCWD, target.c_str(),
                    MOVE_MOUNT_F_EMPTY_PATH) != 0)
            throw_errno(fmt::format("cannot place the kernel mount of the image at {}", target));
        kernel_mount_.reset();
    }
    void stop() noexcept override { squashfs_->stop(); }
    UniqueFd take_output() override { return squashfs_->take_output(); }
    std::string config() const override { return config_; }
    std::string mount_identity() const override { return squashfs_->mount_identity(); }
    std::optional<TrustedImageRequest> trusted_image() const override { return trusted_; }
    void use_kernel_mount(UniqueFd mount) override { kernel_mount_ = std::move(mount); }

private:
    std::unique_ptr<ImageSource> squashfs_;
    std::string config_;
    std::optional<TrustedImageRequest> trusted_;
    UniqueFd kernel_mount_;
};

// With kernel_mount: the shared cache `squashfs` lies in, when it is one.
std::optional<TrustedImageRequest> trusted_image_request(const Config& config,
                                                         const ImportedImage& image)
{
    auto colon = image.digest.find(':');
    if (!config.kernel_mount || colon == std::string::npos)
        return std::nullopt;
    for (size_t i = 0; i < config.shared_caches.size(); ++i)
        if (image.squashfs.starts_with(config.shared_caches[i] + "/images/"))
            return TrustedImageRequest{i, image.digest.substr(colon + 1)};
    return std::nullopt;
}

std::unique_ptr<ImageSource> open_path(const std::string& path, const Config& config);

} // namespace

std::unique_ptr<ImageSource> open_image(const ContainerSpec& spec, const Config& config,
                                        const ImportProgress& progress)
{
    const auto& reference = spec.image;
    const auto& identity = spec.identity;
    if (reference.kind == ImageReference::Kind::Path)
        return open_path(reference.path, config);
    // Mounted from the descriptor the cache opened (and locked): never reopened by path.
    auto imported = import_image(reference, config, spec.cache_dir, identity.home, progress);
    auto trusted = trusted_image_request(config, imported);
    return std::make_unique<ImportedSquashfsImage>(
        std::make_unique<SquashfsImage>(imported.squashfs, std::move(imported.in_use), config),
        imported.config, std::move(trusted));
}

namespace {

std::unique_ptr<ImageSource> open_path(const std::string& path, const Config& config)
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
        return std::make_unique<SquashfsImage>(path, std::move(fd), config);
    fail("image {} is neither a squashfs file nor a directory", path);
}

} // namespace

} // namespace cocoon
