// The container spec as the plugin (or the CLI) hands it to the holder program: JSON over
// the control pipe. It goes from the trusted side to the untrusted one, so the decoder
// only has to be exact, not defensive; image data never travels this way.
#pragma once

#include <string>

#include "cocoon/config.h"
#include "cocoon/spec.h"

namespace cocoon {

std::string encode_holder_request(const ContainerSpec& spec, const Config& config);
void decode_holder_request(const std::string& text, ContainerSpec& spec, Config& config);

} // namespace cocoon
