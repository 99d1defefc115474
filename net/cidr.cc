#include "net/cidr.h"

#include <charconv>

namespace dynamo::net {

std::optional<Cidr> Cidr::parse(std::string_view text) {
    const size_t slash = text.find('/');
    auto ip = IpAddress::parse(text.substr(0, slash));
    if (!ip)
        return std::nullopt;
    const unsigned maxLength = ip->isV4() ? 32 : 128;
    unsigned length = maxLength;
    if (slash != std::string_view::npos) {
        std::string_view digits = text.substr(slash + 1);
        auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
        if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
            length > maxLength) {
            return std::nullopt;
        }
    }
    Cidr cidr;
    cidr.network_ = *ip;
    cidr.prefixLength_ = length;
    return cidr;
}

bool Cidr::contains(const IpAddress& candidate) const {
    const IpAddress ip = candidate.unmapped();
    if (ip.family() != network_.family())
        return false;
    const unsigned fullBytes = prefixLength_ / 8;
    for (unsigned i = 0; i < fullBytes; ++i) {
        if (ip.bytes()[i] != network_.bytes()[i])
            return false;
    }
    const unsigned restBits = prefixLength_ % 8;
    if (restBits == 0)
        return true;
    const auto mask = static_cast<uint8_t>(0xff << (8 - restBits));
    return (ip.bytes()[fullBytes] & mask) == (network_.bytes()[fullBytes] & mask);
}

std::string Cidr::toString() const {
    return network_.toString() + "/" + std::to_string(prefixLength_);
}

bool CidrSet::contains(const IpAddress& ip) const {
    for (const auto& range : ranges_) {
        if (range.contains(ip))
            return true;
    }
    return false;
}

}  // namespace dynamo::net
