#include "net/ip_ranges.h"

#include <array>
#include <cstdint>

namespace dynamo::net {
namespace {

struct V4Range {
    uint32_t network;
    unsigned prefixLength;
};

constexpr uint32_t v4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
}

constexpr std::array<V4Range, 15> kNotPublicV4{{
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

bool isPublicV4(const uint8_t* b) {
    const uint32_t address = v4(b[0], b[1], b[2], b[3]);
    for (const V4Range& range : kNotPublicV4) {
        const uint32_t mask = ~uint32_t{0} << (32 - range.prefixLength);
        if ((address & mask) == range.network)
            return false;
    }
    return true;
}

bool isPublicV6(const uint8_t* b) {
    if ((b[0] & 0xe0) != 0x20)  // global unicast is 2000::/3 (RFC 4291 §2.4)
        return false;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] < 0x02)  // 2001::/23, IETF protocol assignments
        return false;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)  // 2001:db8::/32
        return false;
    if (b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0)  // 3fff::/20 (RFC 9637)
        return false;
    return true;
}

}  // namespace

bool isPublicUnicast(const IpAddress& ip) {
    const IpAddress address = ip.unmapped();
    if (address.isV4())
        return isPublicV4(address.bytes());
    if (address.isV6())
        return isPublicV6(address.bytes());
    return false;
}

}  // namespace dynamo::net
