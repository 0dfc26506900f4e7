// libcocoon-cache's one entry point (cocoon/importer.h).
#include <ctime>

#include "cache_lookup.h"

extern "C" bool cocoon_cache_find_image(const cocoon::ImageReference& reference,
                                        const cocoon::Config& config, const std::string& cache_dir,
                                        const cocoon::ImportProgress& progress,
                                        cocoon::ImportedImage* result)
{
    using namespace cocoon;
    Caches caches(config, cache_dir);
    time_t tag_resolved_since = 0;
    if (config.tag_check_interval > 0)
        tag_resolved_since = time(nullptr) - static_cast<time_t>(config.tag_check_interval);
    auto image = find_without_request(reference, caches, tag_resolved_since, progress);
    if (!image)
        return false;
    *result = hold_for_mount(caches, std::move(*image), config);
    return true;
}
