// Shared by the libFuzzer targets (built with -Dfuzz=true, run by bench/fuzz). Each target
// feeds one parser of hostile or user-typed input; the parser may refuse the input with
// cocoon::Error, and anything else (another exception, a sanitizer report, a hang, a crash)
// is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace cocoon::fuzz {

inline std::string text_of(const uint8_t* data, size_t size)
{
    return std::string(reinterpret_cast<const char*>(data), size);
}

} // namespace cocoon::fuzz
