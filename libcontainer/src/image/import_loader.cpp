#include "image/import_loader.h"

#include <dlfcn.h>

#include "cocoon/error.h"
#include "cocoon_build_config.h"
#include "util/install_paths.h"

namespace cocoon {

namespace {

using FindCached = decltype(&cocoon_cache_find_image);
using EnsureImage = decltype(&cocoon_import_ensure_image);

// Loads `library` once per process (never unloaded) and returns its `entry`. The library
// comes from the directory that libcocoon itself was loaded from, which the installation
// owns; the holder that loads it runs as the job user, so it gains nothing the user's own
// code could not do.
template <typename Entry>
Entry load_entry(const char* library, const char* entry)
{
    std::string path = libcocoon_directory() + "/" + library;
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        fail("cannot load {}: {} (is cocoon completely installed?)", path, dlerror());
    void* symbol = dlsym(handle, entry);
    if (!symbol)
        fail("{} has no {}: it does not match this libcocoon", path, entry);
    return reinterpret_cast<Entry>(symbol);
}

} // namespace

ImportedImage import_image(const ImageReference& reference, const Config& config,
                           const std::string& cache_dir, const std::string& home,
                           const ImportProgress& progress)
{
    ImportedImage result;
    // An image the caches can answer for (an OCI layout's, a registry image's by a pinned
    // digest, by a tag srun resolved for the step or by a tag resolved within
    // tag_check_interval) needs neither libcurl nor libarchive.
    bool registry_answerable = reference.kind == ImageReference::Kind::Registry &&
                               (!reference.digest.empty() || !reference.resolved_digest.empty() ||
                                config.tag_check_interval > 0);
    if (registry_answerable || reference.kind == ImageReference::Kind::OciLayout) {
        static const FindCached find =
            load_entry<FindCached>(COCOON_CACHE_LIBRARY, "cocoon_cache_find_image");
        if (find(reference, config, cache_dir, progress, &result))
            return result;
    }
    static const EnsureImage ensure =
        load_entry<EnsureImage>(COCOON_IMPORT_LIBRARY, "cocoon_import_ensure_image");
    ensure(reference, config, cache_dir, home, progress, &result);
    return result;
}

} // namespace cocoon
