#include "token_store.h"

#include <fcntl.h>

#include <nlohmann/json.hpp>

#include <algorithm>

#include "digest.h"
#include "util/json_limits.h"
#include "util/safe_dir.h"
#include "util/sys.h"

namespace cocoon {

namespace {

// A token good for less than this is not worth keeping: the next step could find it
// expired on the way to the registry.
constexpr time_t margin_seconds = 10;
constexpr uint64_t longest_kept_seconds = 3600;
constexpr size_t max_token_file_bytes = 64 << 10;

} // namespace

TokenStore::TokenStore(UniqueFd dir)
    : dir_(std::move(dir))
{}

std::string TokenStore::key(const std::string& registry, const std::string& repository,
                            const std::optional<Credentials>& credentials)
{
    std::string who =
        credentials ? digest_hex(sha256_digest(credentials->username + ":" + credentials->password))
                    : "anonymous";
    return digest_hex(sha256_digest(registry + "\n" + repository + "\n" + who));
}

std::optional<std::string> TokenStore::find(const std::string& key, time_t now) const
{
    try {
        UniqueFd fd(
            openat(dir_.get(), key.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (!fd.valid())
            return std::nullopt;
        auto record = parse_untrusted_json(sys::read_file(fd.get(), max_token_file_bytes),
                                           "a kept registry token", max_token_file_bytes);
        auto expires_at = record.at("expires_at").get<int64_t>();
        std::string token = record.at("token").get<std::string>();
        if (token.empty() || expires_at - margin_seconds <= now)
            return std::nullopt;
        return token;
    } catch (const std::exception&) {
        return std::nullopt; // damaged: as if absent, replaced by the next token
    }
}

void TokenStore::remember(const std::string& key, const std::string& token, uint64_t expires_in,
                          time_t now) const noexcept
{
    expires_in = std::min(expires_in, longest_kept_seconds);
    if (token.empty() || static_cast<time_t>(expires_in) <= margin_seconds)
        return;
    try {
        // What killed writers of this token left (write_file_atomically's temporaries).
        sys::remove_dead_temporaries(
            dir_.get(), [&](const std::string& name) { return name.starts_with(key + ".tmp."); },
            1);
        nlohmann::json record = {
            {"token", token},
            {"expires_at", static_cast<int64_t>(now) + static_cast<int64_t>(expires_in)}};
        sys::write_file_atomically(dir_.get(), key, record.dump(), 0600, "a registry token");
    } catch (const std::exception&) {
    }
}

} // namespace cocoon
