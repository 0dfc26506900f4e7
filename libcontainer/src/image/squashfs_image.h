// A squashfs file, mounted (never extracted) by a squashfuse server that runs as the job
// user inside the container's user namespace. Start cost does not depend on image size.
#pragma once

#include <sys/types.h>

#include "cocoon/child_process.h"
#include "cocoon/config.h"
#include "cocoon/image.h"
#include "cocoon/unique_fd.h"

namespace cocoon {

class SquashfsImage final : public ImageSource {
public:
    SquashfsImage(std::string path, UniqueFd fd, const Config& config);
    ~SquashfsImage() override;
    void mount(const std::string& target) override;
    void stop() noexcept override;
    UniqueFd take_output() override { return std::move(output_); }
    std::string mount_identity() const override;

private:
    std::string path_;
    UniqueFd fd_;
    std::string squashfuse_;
    UniqueFd program_; // squashfuse_, opened and checked before any namespace exists
    ChildProcess server_;
    UniqueFd output_; // the server's stderr, once it is mounted
};

// Checks the superblock: magic "hsqs" and format version 4. Throws Error naming `path`.
void check_squashfs_superblock(int fd, const std::string& path);

} // namespace cocoon
