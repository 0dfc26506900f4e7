#include "digest.h"

#include <cctype>

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

std::string digest_hex(const std::string& digest)
{
    constexpr std::string_view prefix = "sha256:";
    bool valid = digest.size() == prefix.size() + 64 && digest.starts_with(prefix);
    for (size_t i = prefix.size(); valid && i < digest.size(); ++i)
        valid = std::isdigit(static_cast<unsigned char>(digest[i])) ||
                (digest[i] >= 'a' && digest[i] <= 'f');
    if (!valid)
        fail("'{}' is not a sha256 digest", digest);
    return digest.substr(prefix.size());
}

} // namespace cocoon
