// Writes the merged filesystem of an image's layers into one squashfs file by streaming
// it into tar2sqfs (squashfs-tools-ng): nothing is extracted to disk. The caps of
// cocoon.yaml (image_max_size, image_max_entries, image_max_path_length) bound the stream,
// and so tar2sqfs's memory (its tree of entries) and output as well as the merge's.
#pragma once

#include <string>
#include <vector>

#include "cocoon/config.h"
#include "layers.h"

namespace cocoon {

// With `arrivals`, the layers are still downloading: each is read once it arrives.
void write_squashfs(const std::vector<Layer>& layers, const std::string& output,
                    const Config& config, LayerArrivals* arrivals = nullptr);

} // namespace cocoon
