// Image manifests and indexes, as a registry or an OCI layout sends them.
#include <optional>

#include "cocoon/error.h"
#include "fuzz.h"
#include "image/registry_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::optional<std::string> selected;
    try {
        (void)cocoon::parse_manifest(cocoon::fuzz::text_of(data, size), "sha256:fuzz", "amd64",
                                     "fuzz", &selected);
    } catch (const cocoon::Error&) {
    }
    return 0;
}
