#include "compat/token_api.h"

#include <array>

#include "net/ascii.h"

namespace dynamo::compat {
namespace {

struct CodeInfo {
    TokenApiCode code;
    std::string_view text;
    std::string_view description;
};

constexpr std::array<CodeInfo, 10> kCodes{{
    {TokenApiCode::UpOk, "UP,OK", "address changed, stored and pushed to all DNS servers"},
    {TokenApiCode::UpEr, "UP,ER",
     "address changed and stored, not yet on every DNS server (it migrates within 5-10 minutes)"},
    {TokenApiCode::Nc, "NC", "no change since the last call"},
    {TokenApiCode::Nr, "NR",
     "no record of the token yet (normal in the first minutes after set-up)"},
    {TokenApiCode::Nd, "ND",
     "no DNS record for the token yet (normal in the first minutes after set-up)"},
    {TokenApiCode::Tf, "TF",
     "too frequent: at most one call per 5 minutes, and this call restarted the window; nothing "
     "was updated"},
    {TokenApiCode::Nt, "NT", "no token in the URL (a token is 42 characters)"},
    {TokenApiCode::In, "IN", "the ip parameter is not a valid IPv4 address; nothing was updated"},
    {TokenApiCode::Er, "ER", "general error at the service"},
    {TokenApiCode::Unknown, "unknown", "an answer that is not a DNS Dynamo status code"},
}};

const CodeInfo& infoFor(TokenApiCode code) {
    for (const CodeInfo& info : kCodes) {
        if (info.code == code)
            return info;
    }
    return kCodes.back();
}

bool isUnreserved(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

}  // namespace

std::optional<TokenApiCode> codeFromString(std::string_view text) {
    for (const CodeInfo& info : kCodes) {
        if (info.text == text)
            return info.code;
    }
    return std::nullopt;
}

TokenApiCode parseTokenApiBody(std::string_view body) {
    const std::string_view text = net::trimWhitespace(body);
    for (const CodeInfo& info : kCodes) {
        if (info.code != TokenApiCode::Unknown && text == info.text)
            return info.code;
    }
    return TokenApiCode::Unknown;
}

std::string_view toString(TokenApiCode code) {
    return infoFor(code).text;
}

std::string_view describe(TokenApiCode code) {
    return infoFor(code).description;
}

std::string buildUpdateUrl(std::string_view baseUrl, std::string_view token,
                           const std::optional<net::IpAddress>& ip) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string url(baseUrl);
    if (url.empty() || url.back() != '/')
        url.push_back('/');
    for (const char c : token) {
        if (isUnreserved(c)) {
            url.push_back(c);
        } else {
            const auto byte = static_cast<unsigned char>(c);
            url.push_back('%');
            url.push_back(kHex[byte >> 4]);
            url.push_back(kHex[byte & 0x0f]);
        }
    }
    if (ip && ip->isV4()) {
        url += "?ip=";
        url += ip->toString();
    }
    return url;
}

}  // namespace dynamo::compat
