// Nothing here may put a secret into an Error, a log line or an exception from a library:
// messages name the file and the registry key, never a value.
#include "image/credentials.h"

#include <cerrno>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cocoon/error.h"
#include "util/json_limits.h"
#include "util/sys.h"

namespace cocoon {

namespace {

constexpr size_t max_file_size = size_t{1024} * 1024;

// Where a user's credentials live, in the order they are consulted.
constexpr const char* credential_files[] = {
    "/.config/cocoon/auth.json",
    "/.docker/config.json",
};

// Every spelling `docker login` and other clients use for Docker Hub's keys.
constexpr std::string_view docker_hub_aliases[] = {
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
};

std::string to_lower(std::string_view text)
{
    std::string lower(text);
    for (char& c : lower)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return lower;
}

// The host[:port] a key or registry names: without scheme, path or letter case, and with
// Docker Hub's aliases folded into "docker.io".
std::string registry_host(std::string_view key)
{
    std::string lower = to_lower(key);
    std::string_view host = lower;
    for (std::string_view scheme : {"https://", "http://"})
        if (host.starts_with(scheme))
            host.remove_prefix(scheme.size());
    host = host.substr(0, host.find('/'));
    for (std::string_view alias : docker_hub_aliases)
        if (host == alias)
            return std::string(docker_hub_aliases[0]);
    return std::string(host);
}

int base64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

// Standard base64, padding optional. Empty when the text is not base64.
std::optional<std::string> decode_base64(std::string_view text)
{
    while (text.ends_with('='))
        text.remove_suffix(1);
    if (text.size() % 4 == 1)
        return std::nullopt;
    std::string decoded;
    unsigned bits = 0;
    int bit_count = 0;
    for (char c : text) {
        int value = base64_value(c);
        if (value < 0)
            return std::nullopt;
        bits = (bits << 6) | static_cast<unsigned>(value);
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            decoded.push_back(static_cast<char>((bits >> bit_count) & 0xff));
        }
    }
    return decoded;
}

const nlohmann::json* string_field(const nlohmann::json& entry, const char* field,
                                   const std::string& key)
{
    auto it = entry.find(field);
    if (it == entry.end() || it->is_null())
        return nullptr;
    if (!it->is_string())
        fail("auths: the '{}' of '{}' is not a string", field, key);
    return &*it;
}

Credentials from_auth(const std::string& auth, const std::string& key)
{
    std::optional<std::string> decoded = decode_base64(auth);
    if (!decoded)
        fail("auths: the 'auth' of '{}' is not base64", key);
    size_t colon = decoded->find(':');
    if (colon == std::string::npos)
        fail("auths: the 'auth' of '{}' does not decode to user:password", key);
    return {decoded->substr(0, colon), decoded->substr(colon + 1)};
}

// The secret of one "auths" entry; none when the entry holds neither form (Docker writes
// empty entries when a credential helper keeps the secret).
std::optional<Credentials> entry_credentials(const nlohmann::json& entry, const std::string& key)
{
    if (!entry.is_object())
        fail("auths: the entry for '{}' is not an object", key);
    const nlohmann::json* auth = string_field(entry, "auth", key);
    if (auth && !auth->get_ref<const std::string&>().empty())
        return from_auth(auth->get<std::string>(), key);
    const nlohmann::json* username = string_field(entry, "username", key);
    const nlohmann::json* password = string_field(entry, "password", key);
    if (username && password && !username->get_ref<const std::string&>().empty())
        return Credentials{username->get<std::string>(), password->get<std::string>()};
    return std::nullopt;
}

// How closely a key names the registry: 0 word for word, 1 the same host[:port] without
// a path, 2 a key with a path (podman's per-repository entries), -1 another registry.
int match_rank(const std::string& key, const std::string& registry)
{
    if (key == registry)
        return 0;
    if (registry_host(key) != registry_host(registry))
        return -1;
    std::string_view rest = key;
    for (std::string_view scheme : {"https://", "http://"})
        if (rest.starts_with(scheme))
            rest.remove_prefix(scheme.size());
    size_t slash = rest.find('/');
    bool has_path = slash != std::string_view::npos && slash + 1 < rest.size() &&
                    rest.substr(slash) != "/v1/" && rest.substr(slash) != "/v1";
    return has_path ? 2 : 1;
}

// Never quotes the text near an error, which may be a secret.
nlohmann::json parse_json(const std::string& text)
{
    return parse_untrusted_json(text, "the credentials file", max_file_size);
}

} // namespace

std::optional<Credentials> find_credentials(const std::string& json_text,
                                            const std::string& registry)
{
    nlohmann::json root = parse_json(json_text);
    if (!root.is_object())
        fail("the top level is not a JSON object");
    auto auths = root.find("auths");
    if (auths == root.end() || auths->is_null())
        return std::nullopt;
    if (!auths->is_object())
        fail("'auths' is not a JSON object");
    for (int rank = 0; rank <= 2; ++rank)
        for (const auto& [key, entry] : auths->items())
            if (match_rank(key, registry) == rank)
                if (auto credentials = entry_credentials(entry, key))
                    return credentials;
    return std::nullopt;
}

std::optional<Credentials> load_credentials(const std::string& home, const std::string& registry)
{
    for (const char* name : credential_files) {
        std::string path = home + name;
        auto text = sys::read_regular_file(path, max_file_size);
        if (!text)
            continue;
        try {
            if (auto credentials = find_credentials(*text, registry))
                return credentials;
        } catch (const Error& e) {
            throw e.wrap(path);
        }
    }
    return std::nullopt;
}

} // namespace cocoon
