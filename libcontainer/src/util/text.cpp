#include "util/text.h"

namespace cocoon {

std::string replace_all(std::string text, const std::string& from, const std::string& to)
{
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

size_t utf8_prefix_length(const std::string& text)
{
    size_t i = 0;
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        size_t length = c < 0x80           ? 1
                        : (c >> 5) == 0x06 ? 2
                        : (c >> 4) == 0x0e ? 3
                        : (c >> 3) == 0x1e ? 4
                                           : 0;
        if (length == 0 || i + length > text.size())
            return i;
        for (size_t k = 1; k < length; ++k)
            if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2)
                return i;
        i += length;
    }
    return i;
}

} // namespace cocoon
