#include "compat/publish_address.h"

#include <array>
#include <cstdint>

namespace dynamo::compat {
namespace {

struct Range {
    uint32_t network;
    unsigned prefixLength;
};

constexpr uint32_t v4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
}

constexpr std::array<Range, 15> kNotPublic{{
    {v4(0, 0, 0, 0), 8},        // "this network" (RFC 791)
    {v4(10, 0, 0, 0), 8},       // private (RFC 1918)
    {v4(100, 64, 0, 0), 10},    // shared address space, carrier-grade NAT (RFC 6598)
    {v4(127, 0, 0, 0), 8},      // loopback
    {v4(169, 254, 0, 0), 16},   // link-local (RFC 3927): a device without DHCP
    {v4(172, 16, 0, 0), 12},    // private (RFC 1918)
    {v4(192, 0, 0, 0), 24},     // IETF protocol assignments (RFC 6890)
    {v4(192, 0, 2, 0), 24},     // TEST-NET-1 (RFC 5737)
    {v4(192, 88, 99, 0), 24},   // 6to4 relay anycast, deprecated (RFC 7526)
    {v4(192, 168, 0, 0), 16},   // private (RFC 1918)
    {v4(198, 18, 0, 0), 15},    // benchmarking (RFC 2544)
    {v4(198, 51, 100, 0), 24},  // TEST-NET-2 (RFC 5737)
    {v4(203, 0, 113, 0), 24},   // TEST-NET-3 (RFC 5737)
    {v4(224, 0, 0, 0), 4},      // multicast
    {v4(240, 0, 0, 0), 4},      // reserved (RFC 1112), 255.255.255.255 included
}};

}  // namespace

bool isPublicIpv4(const net::IpAddress& ip) {
    if (!ip.isV4())
        return false;
    const uint8_t* b = ip.bytes();
    const uint32_t address = v4(b[0], b[1], b[2], b[3]);
    for (const Range& range : kNotPublic) {
        const uint32_t mask = ~uint32_t{0} << (32 - range.prefixLength);
        if ((address & mask) == range.network)
            return false;
    }
    return true;
}

std::optional<net::IpAddress> addressToPublish(const MyIp& myip) {
    if (myip.v4 && isPublicIpv4(*myip.v4))
        return myip.v4;
    return std::nullopt;
}

}  // namespace dynamo::compat
