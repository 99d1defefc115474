#include "gateway/updates/update_url.h"

#include <algorithm>

#include "net/ascii.h"

namespace dynamo::gateway {
namespace {

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

}  // namespace

std::optional<UpdateUrl> UpdateUrl::parse(std::string_view url, std::string* error) {
    UpdateUrl out;
    size_t schemeLength = 0;
    if (net::startsWithIgnoreCase(url, "https://")) {
        out.tls = true;
        out.port = 443;
        schemeLength = 8;
    } else if (net::startsWithIgnoreCase(url, "http://")) {
        out.tls = false;
        out.port = 80;
        schemeLength = 7;
    } else {
        *error = "update_url must start with https:// or http://";
        return std::nullopt;
    }
    const size_t pathStart = url.find('/', schemeLength);
    const std::string_view authority =
        url.substr(schemeLength, pathStart == std::string_view::npos ? std::string_view::npos
                                                                     : pathStart - schemeLength);
    for (const char c : url) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?' || c == '#') {
            *error =
                "update_url must not contain a query, a fragment, spaces or control characters";
            return std::nullopt;
        }
    }
    if (authority.find('@') != std::string_view::npos) {
        *error = "update_url must not contain user information";
        return std::nullopt;
    }

    std::string_view host;
    std::string_view portText;
    bool bracketed = false;
    if (!authority.empty() && authority.front() == '[') {
        const size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            *error = "update_url: unterminated [IPv6 address]";
            return std::nullopt;
        }
        host = authority.substr(1, close - 1);
        bracketed = true;
        const std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                *error = "update_url: unexpected characters after ]";
                return std::nullopt;
            }
            portText = rest.substr(1);
        }
    } else {
        const size_t colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos)
            portText = authority.substr(colon + 1);
    }
    if (host.empty()) {
        *error = "update_url has no host";
        return std::nullopt;
    }
    if (authority.find(':') != std::string_view::npos && !bracketed && portText.empty()) {
        *error = "update_url: empty port";
        return std::nullopt;
    }
    if (!portText.empty()) {
        unsigned long port = 0;
        for (const char c : portText) {
            if (!isDigit(c) || port > 65535) {
                *error = "update_url: bad port";
                return std::nullopt;
            }
            port = port * 10 + static_cast<unsigned long>(c - '0');
        }
        if (port == 0 || port > 65535) {
            *error = "update_url: bad port";
            return std::nullopt;
        }
        out.port = static_cast<uint16_t>(port);
    }

    out.host = net::lowerAscii(host);
    if (auto ip = net::IpAddress::parse(out.host)) {
        if (ip->isV6() != bracketed) {
            *error = "update_url: an IPv6 address must be written in brackets";
            return std::nullopt;
        }
        out.literal = *ip;
    } else {
        if (bracketed) {
            *error = "update_url: not an IPv6 address in brackets";
            return std::nullopt;
        }
        // A fully qualified name may end in a dot; SNI and certificates never carry it.
        if (out.host.back() == '.')
            out.host.pop_back();
        const bool valid =
            !out.host.empty() && std::all_of(out.host.begin(), out.host.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || isDigit(c) || c == '-' || c == '.';
            });
        if (!valid) {
            *error = "update_url: bad host name";
            return std::nullopt;
        }
    }
    const uint16_t defaultPort = out.tls ? 443 : 80;
    out.hostHeader = bracketed ? "[" + out.host + "]" : out.host;
    if (out.port != defaultPort)
        out.hostHeader += ":" + std::to_string(out.port);
    out.origin = std::string(url.substr(0, schemeLength + authority.size()));
    return out;
}

}  // namespace dynamo::gateway
