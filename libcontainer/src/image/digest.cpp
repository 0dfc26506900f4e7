#include "digest.h"

#include <openssl/evp.h>

#include "cocoon/error.h"

namespace cocoon {

struct Sha256::State {
    EVP_MD_CTX* context = nullptr;
    ~State() { EVP_MD_CTX_free(context); }
};

Sha256::Sha256()
    : state_(std::make_unique<State>())
{
    state_->context = EVP_MD_CTX_new();
    if (!state_->context || EVP_DigestInit_ex(state_->context, EVP_sha256(), nullptr) != 1)
        fail("cannot initialise sha256");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t size)
{
    EVP_DigestUpdate(state_->context, data, size);
}

std::string Sha256::digest()
{
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned length = 0;
    EVP_DigestFinal_ex(state_->context, hash, &length);
    std::string text = "sha256:";
    for (unsigned i = 0; i < length; ++i)
        text += fmt::format("{:02x}", hash[i]);
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
