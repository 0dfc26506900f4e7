#include "util/json_limits.h"

#include <algorithm>

#include "cocoon/error.h"

namespace cocoon {

size_t json_depth(std::string_view text, size_t limit)
{
    size_t depth = 0;
    size_t deepest = 0;
    bool in_string = false;
    bool escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        switch (c) {
        case '"': in_string = true; break;
        case '[':
        case '{':
            deepest = std::max(deepest, ++depth);
            if (deepest > limit)
                return deepest;
            break;
        case ']':
        case '}':
            // Unbalanced closers make the text invalid; the parser says so.
            if (depth > 0)
                --depth;
            break;
        default: break;
        }
    }
    return deepest;
}

nlohmann::json parse_untrusted_json(std::string_view text, std::string_view what, size_t max_bytes)
{
    if (text.size() > max_bytes)
        fail("{} is larger than the {} bytes cocoon reads ({} bytes): refusing it", what, max_bytes,
             text.size());
    if (json_depth(text, max_json_depth) > max_json_depth)
        fail("{} nests arrays and objects deeper than {} levels: refusing it", what,
             max_json_depth);
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        fail("{} is not valid JSON (error at byte {})", what, e.byte);
    }
}

} // namespace cocoon
