// Sha256 against the standard's test vectors (FIPS 180-2), whole and fed in pieces. This
// file is built twice: unit_digest with OpenSSL's Sha256 (libcocoon-import's) and
// unit_digest_libmd with libmd's (libcocoon-cache's), so both give the same digests.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "cocoon/error.h"
#include "image/digest.h"

using namespace cocoon;

TEST(Sha256, StandardVectors)
{
    EXPECT_EQ(sha256_digest(""),
              "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_digest("abc"),
              "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, InPiecesAsInOne)
{
    // A million 'a's, in pieces of 1,000 and of 65,537 bytes (which cross the 64-byte
    // blocks at every offset).
    for (size_t piece : {size_t{1000}, size_t{65537}}) {
        Sha256 hash;
        std::string chunk(piece, 'a');
        size_t left = 1000000;
        while (left > 0) {
            size_t n = std::min(left, piece);
            hash.update(chunk.data(), n);
            left -= n;
        }
        EXPECT_EQ(hash.digest(),
                  "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
            << "pieces of " << piece;
    }
}

TEST(DigestHex, TakesOnlyLowercaseSha256)
{
    std::string hex(64, 'a');
    EXPECT_EQ(digest_hex("sha256:" + hex), hex);
    EXPECT_THROW(digest_hex("sha256:" + std::string(64, 'A')), Error);
    EXPECT_THROW(digest_hex("sha512:" + hex), Error);
    EXPECT_THROW(digest_hex("sha256:" + hex.substr(1)), Error);
}
