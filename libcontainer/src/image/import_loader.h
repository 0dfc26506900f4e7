// The cache lookup and the importer, loaded on first use: libcocoon links neither
// libcocoon-cache nor libcocoon-import (see cocoon/importer.h), so a step whose image is a
// file or directory never loads libcurl, libarchive or libcrypto, and one whose registry
// image the caches answer for loads only libcrypto.
#pragma once

#include <string>

#include "cocoon/importer.h"

namespace cocoon {

// For a registry image, cocoon_cache_find_image from libcocoon-cache first; when that needs
// a request, or for other references, ensure_image from libcocoon-import. Each is loaded
// from libcocoon's own directory the first time. A program that links libcocoon-import (the
// cocoon command) gets the copy it has already loaded.
ImportedImage import_image(const ImageReference& reference, const Config& config,
                           const std::string& cache_dir, const std::string& home,
                           const ImportProgress& progress);

} // namespace cocoon
