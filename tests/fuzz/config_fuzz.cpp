// cocoon.yaml, the site's and a user's own (cocoon run --config).
#include "cocoon/config.h"
#include "cocoon/error.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    try {
        cocoon::Config config =
            cocoon::parse_config(cocoon::fuzz::text_of(data, size), "fuzz.yaml");
        (void)cocoon::format_config(config);
    } catch (const cocoon::Error&) {
    }
    return 0;
}
