#include "compat/credentials.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cstdint>

#include "net/ascii.h"

namespace dynamo::compat {
namespace {

// A Basic value longer than this is not a device's user name and password; refusing it bounds
// the work an unauthenticated client can cause.
constexpr size_t kMaxBasicTokenLength = 1024;

int base64Value(char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

// RFC 4648 §4 alphabet. Padding is optional (some embedded encoders leave it off), but when
// present it must be at the end and complete the last quantum; anything else fails.
std::optional<std::string> base64Decode(std::string_view text) {
    size_t length = text.size();
    while (length > 0 && text[length - 1] == '=')
        --length;
    const size_t padding = text.size() - length;
    if (padding > 2 || (padding > 0 && text.size() % 4 != 0))
        return std::nullopt;
    if (length % 4 == 1)
        return std::nullopt;  // one leftover character carries no whole byte

    std::string out;
    out.reserve(length * 3 / 4);
    uint32_t bits = 0;
    int bitCount = 0;
    for (size_t i = 0; i < length; ++i) {
        const int value = base64Value(text[i]);
        if (value < 0)
            return std::nullopt;
        bits = (bits << 6) | static_cast<uint32_t>(value);
        bitCount += 6;
        if (bitCount >= 8) {
            bitCount -= 8;
            out.push_back(static_cast<char>((bits >> bitCount) & 0xffU));
        }
    }
    return out;
}

using Digest = std::array<unsigned char, 32>;

// False only when OpenSSL cannot allocate; the caller then refuses the credentials rather than
// comparing two untouched (equal) buffers.
bool sha256(std::string_view text, Digest& digest) {
    unsigned int size = 0;
    return EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr) == 1 &&
           size == digest.size();
}

}  // namespace

std::optional<Credentials> parseBasicAuthorization(std::string_view headerValue) {
    std::string_view value = net::trimWhitespace(headerValue);
    constexpr std::string_view kScheme = "basic";
    if (value.size() <= kScheme.size() ||
        !net::equalsIgnoreCase(value.substr(0, kScheme.size()), kScheme) ||
        (value[kScheme.size()] != ' ' && value[kScheme.size()] != '\t')) {
        return std::nullopt;
    }
    value = net::trimWhitespace(value.substr(kScheme.size()));
    if (value.empty() || value.size() > kMaxBasicTokenLength)
        return std::nullopt;

    const std::optional<std::string> decoded = base64Decode(value);
    if (!decoded)
        return std::nullopt;
    const size_t colon = decoded->find(':');
    if (colon == std::string::npos)
        return Credentials{*decoded, {}};
    return Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

std::optional<Credentials> findCredentials(std::string_view authorizationHeader,
                                           const Form& params) {
    if (!authorizationHeader.empty()) {
        if (auto basic = parseBasicAuthorization(authorizationHeader))
            return basic;
    }
    for (const auto& [userKey, passKey] :
         {std::pair{"username", "password"}, std::pair{"user", "pass"}}) {
        if (const auto user = params.get(userKey)) {
            return Credentials{std::string(*user), std::string(params.get(passKey).value_or(""))};
        }
    }
    return std::nullopt;
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
    Digest digestA{};
    Digest digestB{};
    const bool hashedA = sha256(a, digestA);
    const bool hashedB = sha256(b, digestB);
    return hashedA && hashedB && CRYPTO_memcmp(digestA.data(), digestB.data(), digestA.size()) == 0;
}

const config::Account* findAccount(std::span<const config::Account> accounts,
                                   const Credentials& credentials) {
    const config::Account* found = nullptr;
    for (const config::Account& account : accounts) {
        // Both are computed before either is looked at: the password is compared even when the
        // user name differs.
        const bool userMatches = constantTimeEquals(account.username, credentials.username);
        const bool passwordMatches = constantTimeEquals(account.password, credentials.password);
        if (userMatches && passwordMatches && found == nullptr)
            found = &account;
    }
    return found;
}

}  // namespace dynamo::compat
