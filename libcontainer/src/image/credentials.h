// Registry credentials from the user's files: ~/.config/cocoon/auth.json, then
// ~/.docker/config.json (both in the Docker "auths" format). Read as the job user; never
// logged.
#pragma once

#include <optional>
#include <string>

namespace cocoon {

struct Credentials {
    std::string username;
    std::string password;
};

// Looks `registry` (host[:port] as in an image reference, e.g. "docker.io",
// "127.0.0.1:5000") up in the text of an auth.json / config.json file. Entries may be keyed
// by host, by "https://host", or (for Docker Hub) "https://index.docker.io/v1/"; the
// secret is either "auth" (base64 of user:password) or "username" + "password".
// Throws Error (without any secret in the message) when the text is not valid JSON.
std::optional<Credentials> find_credentials(const std::string& json_text,
                                            const std::string& registry);

// Reads the user's credential files under `home`, in order, and returns the first match.
// A missing file is skipped; an unreadable or malformed one is an Error naming the file.
std::optional<Credentials> load_credentials(const std::string& home, const std::string& registry);

} // namespace cocoon
