// sha256 content digests ("sha256:<64 hex>") of blobs and manifests. Two libraries
// implement Sha256 (digest_openssl.cpp, digest_libmd.cpp); each shared library links one.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace cocoon {

class Sha256 {
public:
    static constexpr size_t sha256_size = 32;

    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(const void* data, size_t size);
    // "sha256:<hex>"; the object cannot be updated afterwards.
    std::string digest();

private:
    void finish(unsigned char (&hash)[sha256_size]);

    struct State;
    std::unique_ptr<State> state_;
};

std::string sha256_digest(std::string_view data);

// Checks "sha256:<64 lowercase hex>" and returns the hex part; throws Error otherwise.
std::string digest_hex(const std::string& digest);

// Whether `hex` is the hex part of a sha256 digest: 64 lowercase hex digits.
bool is_sha256_hex(std::string_view hex);

} // namespace cocoon
