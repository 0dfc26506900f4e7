// Sha256 by OpenSSL's libcrypto, for libcocoon-import: it hashes layers of hundreds of
// megabytes, where OpenSSL's SHA extensions code is three to four times as fast as
// libmd's portable C.
#include <openssl/evp.h>

#include "cocoon/error.h"
#include "digest.h"

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

void Sha256::finish(unsigned char (&hash)[sha256_size])
{
    unsigned length = 0;
    EVP_DigestFinal_ex(state_->context, hash, &length);
}

} // namespace cocoon
