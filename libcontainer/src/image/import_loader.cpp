#include "image/import_loader.h"

#include <dlfcn.h>

#include "cocoon/error.h"
#include "cocoon_build_config.h"
#include "util/install_paths.h"

namespace cocoon {

namespace {

using EnsureImage = decltype(&cocoon_import_ensure_image);

// Loaded once per process and never unloaded. The library comes from the directory that
// libcocoon itself was loaded from, which the installation owns; the holder that loads it
// runs as the job user, so it gains nothing the user's own code could not do.
EnsureImage load_importer()
{
    std::string path = libcocoon_directory() + "/" + COCOON_IMPORT_LIBRARY;
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!library)
        fail("cannot load the image importer {}: {} (is cocoon completely installed?)", path,
             dlerror());
    void* entry = dlsym(library, "cocoon_import_ensure_image");
    if (!entry)
        fail("{} has no cocoon_import_ensure_image: it does not match this libcocoon", path);
    return reinterpret_cast<EnsureImage>(entry);
}

} // namespace

ImportedImage import_image(const ImageReference& reference, const Config& config,
                           const std::string& cache_dir, const std::string& home,
                           const ImportProgress& progress)
{
    static const EnsureImage ensure = load_importer();
    ImportedImage result;
    ensure(reference, config, cache_dir, home, progress, &result);
    return result;
}

} // namespace cocoon
