#pragma once
// PCP (RFC 6887) as far as the public address needs it. PCP has no "what is my address"
// request: ANNOUNCE (§14.1) carries no address, and only a MAP response carries the "Assigned
// External IP Address" (§11.1). So the source asks for a short UDP MAP of its own ephemeral
// port and deletes it again at once (lifetime 0, §15). miniupnpd answers MAP this way. Pure:
// bytes in, bytes out.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "net/socket_address.h"

namespace dynamo::gateway {

inline constexpr uint8_t kPcpVersion = 2;
inline constexpr size_t kPcpMapSize = 60;    // 24-byte header (§7.1) + 36-byte MAP (§11.1)
inline constexpr size_t kPcpMaxSize = 1100;  // §7: no PCP message is longer
using PcpNonce = std::array<uint8_t, 12>;    // §11.1: matches a response to its request

// A MAP request (§11.1) for UDP `internalPort` of `client` (the address the router sees us
// with: our socket's own address), asking for an IPv4 external address (suggested external
// address ::ffff:0.0.0.0, errata 3621). lifetime 0 deletes the mapping again (§15).
std::vector<uint8_t> pcpMapRequest(const net::IpAddress& client, uint16_t internalPort,
                                   const PcpNonce& nonce, uint32_t lifetime);

struct PcpResponse {
    enum class Kind {
        Address,       // SUCCESS: address holds the assigned external IPv4 address
        Error,         // another result code (result, pcpResultText())
        NatPmpServer,  // version 0: a NAT-PMP-only server refusing version 2 (§9)
        NotOurs,       // malformed, another opcode, another nonce: ignored
    };
    Kind kind = Kind::NotOurs;
    uint8_t result = 0;
    uint32_t lifetime = 0;
    net::IpAddress address;
};

// Any datagram from the router's port 5351, checked against the request's nonce.
PcpResponse parsePcpResponse(std::span<const uint8_t> datagram, const PcpNonce& nonce);

// "PCP result 8: NO_RESOURCES" (RFC 6887 §7.4's names).
std::string pcpResultText(uint8_t result);

}  // namespace dynamo::gateway
