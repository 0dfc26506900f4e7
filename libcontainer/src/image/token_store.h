// Bearer tokens that registries' token services gave, kept until they expire, so that a
// later step asks a registry once instead of three times.
//
// A registry with token authentication (Docker Hub, ghcr.io, most public ones) answers a
// request without a token with 401 and a challenge; the client then asks the token
// service named there, and repeats the request with the token. Each step by tag makes one
// request (the HEAD of its tag), so without a kept token it made three, to two services:
// HEAD, the token, HEAD again. The tokens are kept in the user's own image cache, in
// tokens/ (0700, each token a 0600 file), under a key of the registry, the repository and
// the credentials that obtained them (anonymous or a hash of the user and password), for
// as long as the token service said they are good, less a margin. A kept token the
// registry refuses is dropped for a new one, as without it.
#pragma once

#include <ctime>
#include <optional>
#include <string>

#include "cocoon/unique_fd.h"
#include "credentials.h"

namespace cocoon {

class TokenStore {
public:
    // `dir`: the tokens directory, opened by ImageCache::open_tokens_dir.
    explicit TokenStore(UniqueFd dir);

    // The key of a token: what obtained it.
    static std::string key(const std::string& registry, const std::string& repository,
                           const std::optional<Credentials>& credentials);

    // The token kept under `key` when it is still good at `now`.
    std::optional<std::string> find(const std::string& key, time_t now) const;
    // Keeps `token`, good for `expires_in` seconds from `now` (the token service's word,
    // 60 when it said nothing, at most an hour). Failures are ignored: a token not kept
    // costs the next step two requests, nothing more.
    void remember(const std::string& key, const std::string& token, uint64_t expires_in,
                  time_t now) const noexcept;

private:
    UniqueFd dir_;
};

} // namespace cocoon
