#include "gateway/address/pcp.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace dynamo::gateway {

namespace {

constexpr uint8_t kOpMap = 1;
constexpr uint8_t kResponseBit = 0x80;  // the R bit (§7.2)
constexpr uint8_t kProtocolUdp = 17;

void put32(std::vector<uint8_t>& out, uint32_t value) {
    out.push_back(static_cast<uint8_t>(value >> 24));
    out.push_back(static_cast<uint8_t>(value >> 16));
    out.push_back(static_cast<uint8_t>(value >> 8));
    out.push_back(static_cast<uint8_t>(value));
}

// IPv4 addresses travel as IPv4-mapped IPv6 addresses (§5).
void putMapped(std::vector<uint8_t>& out, const net::IpAddress& address) {
    if (address.isV6()) {
        out.insert(out.end(), address.bytes(), address.bytes() + 16);
        return;
    }
    out.insert(out.end(), 10, 0);
    out.push_back(0xff);
    out.push_back(0xff);
    if (address.isV4())
        out.insert(out.end(), address.bytes(), address.bytes() + 4);
    else
        out.insert(out.end(), 4, 0);
}

uint32_t read32(std::span<const uint8_t> b, size_t at) {
    return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
           uint32_t{b[at + 3]};
}

}  // namespace

std::vector<uint8_t> pcpMapRequest(const net::IpAddress& client, uint16_t internalPort,
                                   const PcpNonce& nonce, uint32_t lifetime) {
    std::vector<uint8_t> out;
    out.reserve(kPcpMapSize);
    out.push_back(kPcpVersion);
    out.push_back(kOpMap);
    out.push_back(0);
    out.push_back(0);
    put32(out, lifetime);
    putMapped(out, client);
    out.insert(out.end(), nonce.begin(), nonce.end());
    out.push_back(kProtocolUdp);
    out.insert(out.end(), 3, 0);
    out.push_back(static_cast<uint8_t>(internalPort >> 8));
    out.push_back(static_cast<uint8_t>(internalPort));
    out.push_back(0);  // suggested external port: none (§11.1)
    out.push_back(0);
    putMapped(out, net::IpAddress());  // ::ffff:0.0.0.0, "an IPv4 address, any"
    return out;
}

PcpResponse parsePcpResponse(std::span<const uint8_t> datagram, const PcpNonce& nonce) {
    PcpResponse response;
    if (datagram.size() < 2)
        return response;
    // A NAT-PMP-only server answers version 2 with its own version 0 and result 1
    // ("unsupported version", RFC 6886 §3.5); RFC 6887 §9 says to speak NAT-PMP to it.
    if (datagram[0] == 0) {
        response.kind = PcpResponse::Kind::NatPmpServer;
        return response;
    }
    // §7: at least the 24-byte header, at most 1100 bytes, a multiple of 4.
    if (datagram[0] != kPcpVersion || datagram.size() < 24 || datagram.size() > kPcpMaxSize ||
        datagram.size() % 4 != 0 || datagram[1] != (kOpMap | kResponseBit))
        return response;
    response.result = datagram[3];
    response.lifetime = read32(datagram, 4);
    if (datagram.size() < kPcpMapSize) {
        // A server that could not parse the request may answer with the header alone (§8.3).
        if (response.result != 0)
            response.kind = PcpResponse::Kind::Error;
        return response;
    }
    // §11.3: a response whose nonce is not the request's is not ours.
    if (!std::equal(nonce.begin(), nonce.end(), datagram.begin() + 24))
        return response;
    if (response.result != 0) {
        response.kind = PcpResponse::Kind::Error;
        return response;
    }
    // The assigned external address, IPv4-mapped (§5); only a SUCCESS response assigns one.
    const uint8_t* assigned = datagram.data() + 44;
    static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(assigned, kMappedPrefix, sizeof kMappedPrefix) != 0)
        return response;  // an IPv6 mapping: not what the request asked for
    in_addr addr{};
    std::memcpy(&addr.s_addr, assigned + 12, 4);
    response.address = net::IpAddress::fromV4(addr);
    response.kind = PcpResponse::Kind::Address;
    return response;
}

std::string pcpResultText(uint8_t result) {
    static constexpr const char* kNames[] = {
        "SUCCESS",          "UNSUPP_VERSION",        "NOT_AUTHORIZED",   "MALFORMED_REQUEST",
        "UNSUPP_OPCODE",    "UNSUPP_OPTION",         "MALFORMED_OPTION", "NETWORK_FAILURE",
        "NO_RESOURCES",     "UNSUPP_PROTOCOL",       "USER_EX_QUOTA",    "CANNOT_PROVIDE_EXTERNAL",
        "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS"};
    const char* name = result < std::size(kNames) ? kNames[result] : "unknown result code";
    return "PCP result " + std::to_string(result) + ": " + name;
}

}  // namespace dynamo::gateway
