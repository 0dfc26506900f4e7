// Image references as users type them (--container=..., cocoon run IMAGE).
#include "cocoon/error.h"
#include "cocoon/reference.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::string text = cocoon::fuzz::text_of(data, size);
    cocoon::ImageReference reference;
    try {
        reference = cocoon::parse_image_reference(text, "/base/dir");
    } catch (const cocoon::Error&) {
        return 0;
    }
    // The canonical name of a registry image (the cache's key) names the same image when
    // parsed again.
    if (reference.kind == cocoon::ImageReference::Kind::Registry) {
        std::string canonical = reference.canonical();
        cocoon::ImageReference again = cocoon::parse_image_reference(canonical, "/base/dir");
        if (again.canonical() != canonical)
            __builtin_trap();
    }
    return 0;
}
