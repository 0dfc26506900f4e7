// Writes the merged filesystem of an image's layers into one squashfs file by streaming
// it into tar2sqfs (squashfs-tools-ng): nothing is extracted to disk.
#pragma once

#include <string>
#include <vector>

#include "cocoon/config.h"
#include "layers.h"

namespace cocoon {

void write_squashfs(const std::vector<Layer>& layers, const std::string& output,
                    const Config& config);

} // namespace cocoon
