// Small string helpers shared by the configuration, its placeholders, the modules and the
// holder's request.
#pragma once

#include <string>

namespace cocoon {

// `text` with every `from` replaced by `to`, left to right; a replacement is not searched
// again.
std::string replace_all(std::string text, const std::string& from, const std::string& to);

// The length of the longest start of `text` that is well-formed UTF-8: text.size() when
// all of it is (JSON strings, and so the holder's request, must be).
size_t utf8_prefix_length(const std::string& text);
inline bool valid_utf8(const std::string& text)
{
    return utf8_prefix_length(text) == text.size();
}

} // namespace cocoon
