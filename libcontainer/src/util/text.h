// Small string helpers shared by the configuration's placeholders and the modules.
#pragma once

#include <string>

namespace cocoon {

// `text` with every `from` replaced by `to`, left to right; a replacement is not searched
// again.
std::string replace_all(std::string text, const std::string& from, const std::string& to);

} // namespace cocoon
