// The importer, loaded on first use: libcocoon does not link libcocoon-import (see
// cocoon/importer.h), so a step whose image is a file or directory never loads libcurl,
// libarchive or libcrypto.
#pragma once

#include <string>

#include "cocoon/importer.h"

namespace cocoon {

// ensure_image from libcocoon-import, which is loaded from libcocoon's own directory the
// first time. A program that links libcocoon-import (the cocoon command) gets the copy it
// has already loaded.
ImportedImage import_image(const ImageReference& reference, const Config& config,
                           const std::string& cache_dir, const std::string& home,
                           const ImportProgress& progress);

} // namespace cocoon
