#include "gateway/address/nat_pmp.h"

#include <netinet/in.h>

#include <cstring>

namespace dynamo::gateway {

namespace {

constexpr uint8_t kVersion = 0;
constexpr uint8_t kPcpVersion = 2;
constexpr uint8_t kOpExternalAddress = 0;
constexpr uint8_t kResponseBit = 128;  // response opcode = request opcode + 128 (RFC 6886 §3.2)

uint16_t read16(std::span<const uint8_t> b, size_t at) {
    return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}

uint32_t read32(std::span<const uint8_t> b, size_t at) {
    return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
           uint32_t{b[at + 3]};
}

}  // namespace

std::array<uint8_t, 2> natPmpExternalAddressRequest() {
    return {kVersion, kOpExternalAddress};
}

NatPmpResponse parseNatPmpResponse(std::span<const uint8_t> datagram) {
    NatPmpResponse response;
    if (datagram.size() < 2)
        return response;
    // A PCP-only server answers a version-0 request with its own version and UNSUPP_VERSION
    // (RFC 6887 §9): the caller asks again in PCP.
    if (datagram[0] == kPcpVersion) {
        response.kind = NatPmpResponse::Kind::PcpServer;
        return response;
    }
    if (datagram[0] != kVersion || datagram[1] != (kOpExternalAddress | kResponseBit) ||
        datagram.size() < 8)
        return response;
    response.result = read16(datagram, 2);
    response.epoch = read32(datagram, 4);
    if (response.result != 0) {
        // Error responses may stop after the epoch (RFC 6886 §3.5 lets a server send only the
        // common header when the request was not understood).
        response.kind = NatPmpResponse::Kind::Error;
        return response;
    }
    if (datagram.size() < 12)
        return response;
    in_addr addr{};
    std::memcpy(&addr.s_addr, datagram.data() + 8, 4);
    response.address = net::IpAddress::fromV4(addr);
    response.kind = NatPmpResponse::Kind::Address;
    return response;
}

std::string natPmpResultText(uint16_t result) {
    const char* word = "unknown result code";
    switch (result) {
        case 0:
            word = "success";
            break;
        case 1:
            word = "unsupported version";
            break;
        case 2:
            word = "not authorized/refused";
            break;
        case 3:
            // RFC 6886 §3.5: e.g. no DHCP lease on the WAN yet; miniupnpd also says it when its
            // WAN address is private or carrier-grade (100.64/10).
            word = "network failure (the router has no public address of its own)";
            break;
        case 4:
            word = "out of resources";
            break;
        case 5:
            word = "unsupported opcode";
            break;
        default:
            break;
    }
    return "NAT-PMP result " + std::to_string(result) + ": " + word;
}

}  // namespace dynamo::gateway
