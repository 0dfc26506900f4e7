// cocoon.yaml, the site's and a user's own (cocoon run --config).
#include "cocoon/config.h"
#include <cstdlib>

#include "cocoon/error.h"
#include "config/config_wire.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    try {
        cocoon::Config config =
            cocoon::parse_config(cocoon::fuzz::text_of(data, size), "fuzz.yaml");
        // What the holder program receives is what was parsed.
        if (!(cocoon::config_from_json(cocoon::config_to_json(config)) == config))
            abort();
    } catch (const cocoon::Error&) {
    }
    return 0;
}
