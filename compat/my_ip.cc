#include "compat/my_ip.h"

#include <charconv>

#include "net/ascii.h"

namespace dynamo::compat {
namespace {

// More comma parts than a v4,v6 pair and a spare are not examined: bounded work on garbage.
constexpr size_t kMaxParts = 4;

std::optional<net::IpAddress> parsePart(std::string_view part) {
    part = net::trimWhitespace(part);
    std::optional<unsigned> prefixLength;
    if (const size_t slash = part.find('/'); slash != std::string_view::npos) {
        const std::string_view digits = part.substr(slash + 1);
        unsigned length = 0;
        const auto [end, error] =
            std::from_chars(digits.data(), digits.data() + digits.size(), length);
        if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size()) {
            return std::nullopt;
        }
        prefixLength = length;
        part = part.substr(0, slash);
    }
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') {
        part = part.substr(1, part.size() - 2);
    }
    std::optional<net::IpAddress> ip = net::IpAddress::parse(part);
    if (!ip)
        return std::nullopt;
    if (prefixLength && *prefixLength > (ip->isV4() ? 32U : 128U))
        return std::nullopt;
    return ip->unmapped();
}

}  // namespace

MyIp parseMyIp(std::optional<std::string_view> value) {
    MyIp result;
    if (!value)
        return result;
    std::string_view text = net::trimWhitespace(*value);
    if (text.empty()) {
        result.form = MyIp::Form::Empty;
        return result;
    }
    for (size_t parts = 0; parts < kMaxParts && !text.empty(); ++parts) {
        const size_t comma = text.find(',');
        const std::string_view part = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        const std::optional<net::IpAddress> ip = parsePart(part);
        if (!ip)
            continue;
        if (ip->isV4() && !result.v4)
            result.v4 = ip;
        if (ip->isV6() && !result.v6)
            result.v6 = ip;
    }
    result.form = (result.v4 || result.v6) ? MyIp::Form::Address : MyIp::Form::Invalid;
    return result;
}

}  // namespace dynamo::compat
