// An unpacked root filesystem directory, bound read-only into the container.
#pragma once

#include "cocoon/image.h"
#include "cocoon/unique_fd.h"

namespace cocoon {

class DirectoryImage final : public ImageSource {
public:
    DirectoryImage(std::string path, UniqueFd fd);
    void mount(const std::string& target) override;
    void stop() noexcept override {}

private:
    std::string path_;
    UniqueFd fd_;
};

} // namespace cocoon
