// Sha256 by libmd, for libcocoon-cache: a step with a registry or OCI image loads that
// library to hash a reference and a few small files. libmd (which dpkg itself needs, so it
// is on every Debian node) loads in a fraction of a millisecond; libcrypto costs several
// milliseconds to load and initialise in each process.
#include <sys/types.h>

#include <sha2.h>

#include "digest.h"

namespace cocoon {

struct Sha256::State {
    SHA2_CTX context;
};

static_assert(Sha256::sha256_size == SHA256_DIGEST_LENGTH);

Sha256::Sha256()
    : state_(std::make_unique<State>())
{
    SHA256Init(&state_->context);
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t size)
{
    SHA256Update(&state_->context, static_cast<const uint8_t*>(data), size);
}

void Sha256::finish(unsigned char (&hash)[sha256_size])
{
    SHA256Final(hash, &state_->context);
}

} // namespace cocoon
