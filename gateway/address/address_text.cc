#include "gateway/address/address_text.h"

#include <cctype>
#include <string>

#include "net/ascii.h"

namespace dynamo::gateway {
namespace {

bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && isSpace(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && isSpace(text.back()))
        text.remove_suffix(1);
    return text;
}

bool isAddressChar(char c) {
    return (c >= '0' && c <= '9') || c == '.';
}

}  // namespace

std::optional<net::IpAddress> parseBareIpv4(std::string_view text) {
    text = trim(text);
    // "255.255.255.255" is the longest; anything else is not one address.
    if (text.empty() || text.size() > 15 ||
        text.find_first_not_of("0123456789.") != std::string_view::npos)
        return std::nullopt;
    auto address = net::IpAddress::parse(text);
    if (!address || !address->isV4())
        return std::nullopt;
    return address;
}

std::optional<net::IpAddress> parseEchoBody(std::string_view body) {
    body = body.substr(0, kMaxEchoBody);
    constexpr std::string_view kLabel = "current ip address:";
    const std::string lower = net::lowerAscii(body);
    const size_t label = lower.find(kLabel);
    if (label == std::string::npos)
        return parseBareIpv4(body);
    // A second label would be a page that cannot make up its mind.
    if (lower.find(kLabel, label + kLabel.size()) != std::string::npos)
        return std::nullopt;
    size_t start = label + kLabel.size();
    while (start < body.size() && isSpace(body[start]))
        ++start;
    size_t end = start;
    while (end < body.size() && isAddressChar(body[end]))
        ++end;
    // "1.2.3.4x" or "1.2.3.4:80" is not an address followed by markup.
    if (end < body.size() && (std::isalnum(static_cast<unsigned char>(body[end])) ||
                              body[end] == ':' || body[end] == '_' || body[end] == '-'))
        return std::nullopt;
    return parseBareIpv4(body.substr(start, end - start));
}

}  // namespace dynamo::gateway
