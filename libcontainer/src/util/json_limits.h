// The one way libcontainer parses JSON that an image, a registry or a user wrote: sizes and
// nesting are capped before nlohmann::json sees the text. Its parser and its copies and
// destructor recurse per nesting level, so a document nested some 60,000 levels deep
// (130 KB) overflows the stack; a scan that counts brackets outside strings refuses it
// first, in linear time and constant memory.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace cocoon {

// Deeper than any manifest, index or image configuration (they nest 4 or 5 levels).
constexpr size_t max_json_depth = 64;

// Manifests, indexes, index.json, manifest.json and image configurations.
constexpr size_t max_image_json_size = 4 << 20;

// The deepest nesting of arrays and objects in `text`, counting only brackets outside
// strings; stops counting (returns a value above `limit`) as soon as it passes `limit`.
size_t json_depth(std::string_view text, size_t limit);

// Parses `text`. Throws Error naming `what` ("manifest of docker.io/library/ubuntu") and
// the limit when the text is larger than `max_bytes` or nested deeper than
// max_json_depth, and when it is not JSON. Messages never quote the text: it may be a
// secret, and it is hostile.
nlohmann::json parse_untrusted_json(std::string_view text, std::string_view what,
                                    size_t max_bytes = max_image_json_size);

} // namespace cocoon
