#include "digest.h"

#include <fmt/format.h>

#include "cocoon/error.h"

// The hashing itself is in digest_openssl.cpp (libcocoon-import: fast on large layers) or
// digest_libmd.cpp (libcocoon-cache: quick to load for the short texts a lookup hashes).

namespace cocoon {

std::string Sha256::digest()
{
    unsigned char hash[sha256_size];
    finish(hash);
    std::string text = "sha256:";
    for (unsigned char byte : hash)
        text += fmt::format("{:02x}", byte);
    return text;
}

std::string sha256_digest(std::string_view data)
{
    Sha256 hash;
    hash.update(data.data(), data.size());
    return hash.digest();
}

bool is_sha256_hex(std::string_view hex)
{
    return hex.size() == 64 && hex.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string digest_hex(const std::string& digest)
{
    constexpr std::string_view prefix = "sha256:";
    if (!digest.starts_with(prefix) ||
        !is_sha256_hex(std::string_view(digest).substr(prefix.size())))
        fail("'{}' is not a sha256 digest", digest);
    return digest.substr(prefix.size());
}

} // namespace cocoon
