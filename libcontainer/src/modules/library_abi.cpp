#include "modules/library_abi.h"

#include <array>
#include <charconv>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cocoon {

namespace {

constexpr std::array<std::pair<const char*, AbiPolicy>, 3> policy_names = {{
    {"major", AbiPolicy::Major},
    {"full", AbiPolicy::Full},
    {"strict", AbiPolicy::Strict},
}};

constexpr size_t max_version_numbers = 4;

std::optional<unsigned> parse_number(std::string_view text)
{
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size())
        return std::nullopt;
    return value;
}

// "12.2.2" -> {12, 2, 2}; nullopt unless every part is a number.
std::optional<std::vector<unsigned>> parse_numbers(std::string_view text, char separator)
{
    std::vector<unsigned> numbers;
    while (true) {
        size_t end = text.find(separator);
        auto number = parse_number(text.substr(0, end));
        if (!number || numbers.size() == max_version_numbers)
            return std::nullopt;
        numbers.push_back(*number);
        if (end == std::string_view::npos)
            return numbers;
        text.remove_prefix(end + 1);
    }
}

bool full_version_known(const LibraryVersion& version)
{
    return version.numbers.size() >= 2;
}

} // namespace

std::optional<AbiPolicy> parse_abi_policy(const std::string& name)
{
    for (const auto& [text, policy] : policy_names)
        if (name == text)
            return policy;
    return std::nullopt;
}

const char* abi_policy_name(AbiPolicy policy)
{
    for (const auto& [text, value] : policy_names)
        if (value == policy)
            return text;
    return "major";
}

std::optional<LibraryVersion> version_from_libtool_abi(const std::string& text)
{
    auto numbers = parse_numbers(text, ':');
    if (!numbers || numbers->size() != 3)
        return std::nullopt;
    unsigned current = (*numbers)[0], revision = (*numbers)[1], age = (*numbers)[2];
    if (age > current)
        return std::nullopt;
    LibraryVersion version;
    version.numbers = {current - age, age, revision};
    return version;
}

LibraryVersion version_from_file_name(const std::string& name)
{
    LibraryVersion version;
    size_t at = name.rfind(".so.");
    if (at == std::string::npos)
        return version;
    if (auto numbers = parse_numbers(std::string_view(name).substr(at + 4), '.'))
        version.numbers = *numbers;
    return version;
}

std::string format_library_version(const LibraryVersion& version)
{
    std::string text = version.numbers.empty() ? std::string("unknown")
                                               : fmt::format("{}", fmt::join(version.numbers, "."));
    if (!version.release.empty())
        text += fmt::format(" ({})", version.release);
    return text;
}

std::string abi_mismatch(AbiPolicy policy, const LibraryVersion& image, const LibraryVersion& host)
{
    const char* name = abi_policy_name(policy);
    if (image.numbers.empty() || host.numbers.empty())
        return fmt::format("policy '{}' needs both major versions, and the {}'s is unknown", name,
                           image.numbers.empty() ? "image" : "host");
    if (image.numbers[0] != host.numbers[0])
        return fmt::format("policy '{}' needs the same major version", name);
    if (policy == AbiPolicy::Major)
        return {};
    if (!full_version_known(image) || !full_version_known(host))
        return fmt::format("policy '{}' needs both full versions, and the {}'s is unknown", name,
                           full_version_known(image) ? "host" : "image");
    if (policy == AbiPolicy::Full)
        return host.numbers >= image.numbers
                   ? std::string()
                   : fmt::format("policy '{}' needs the host's version to be the image's or newer",
                                 name);
    if (host.numbers != image.numbers || host.release != image.release)
        return fmt::format("policy '{}' needs the very same version and release", name);
    return {};
}

std::optional<std::string> driver_version_from_text(const std::string& text,
                                                    const std::regex& pattern)
{
    std::smatch match;
    if (!std::regex_search(text, match, pattern) || match.size() < 2 || !match[1].matched ||
        match[1].length() == 0)
        return std::nullopt;
    return match[1].str();
}

bool library_has_driver_version(const std::string& file_name, const std::string& version)
{
    std::string suffix = ".so." + version;
    return !version.empty() && file_name.size() > suffix.size() &&
           file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace cocoon
