// The site configuration as the plugin (or the CLI) hands it to the holder program, inside
// its JSON request: the parsed values, field for field, so the holder neither parses nor
// validates YAML again. (yaml-cpp builds its nodes slowly, and in the freshly executed
// holder its code is cold: the YAML round trip cost about 3.5 ms of every step.) The
// values were checked by parse_config on the trusted side; the decoder only has to be
// exact: a field missing or of the wrong type throws nlohmann::json::exception.
#pragma once

#include <nlohmann/json.hpp>

#include "cocoon/config.h"

namespace cocoon {

nlohmann::json config_to_json(const Config& config);
Config config_from_json(const nlohmann::json& json);

// JSON strings are UTF-8, and yaml-cpp takes any bytes into a value: parse_config refuses
// a value (or a name in a mapping) that is not UTF-8 here, naming where it is, rather than
// the step failing when its request is encoded.
void require_utf8_values(const Config& config);

} // namespace cocoon
