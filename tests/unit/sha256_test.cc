// net::sha256(): the FIPS 180-2 example vectors, and OpenSSL's answer for every length around
// the padding's block boundaries.

#include "net/sha256.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>

namespace dynamo::net {
namespace {

std::string hex(const Sha256Digest& digest) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const uint8_t byte : digest) {
        out.push_back(kHex[byte >> 4]);
        out.push_back(kHex[byte & 0x0f]);
    }
    return out;
}

TEST(Sha256, KnownVectors) {
    EXPECT_EQ(hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(hex(sha256("abc")),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(hex(sha256(std::string(1000000, 'a'))),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, MatchesOpenSslForEveryLengthUpToThreeBlocks) {
    std::string data;
    for (size_t length = 0; length <= 200; ++length) {
        SCOPED_TRACE(length);
        Sha256Digest expected{};
        unsigned int size = 0;
        ASSERT_EQ(
            EVP_Digest(data.data(), data.size(), expected.data(), &size, EVP_sha256(), nullptr), 1);
        EXPECT_EQ(hex(sha256(data)), hex(expected));
        data.push_back(static_cast<char>((length * 37 + 11) & 0xff));
    }
}

}  // namespace
}  // namespace dynamo::net
