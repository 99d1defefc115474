#pragma once
// NAT-PMP (RFC 6886) as far as the public address needs it: the external address request
// (§3.2) and its response. Pure: bytes in, bytes out; the router source does the I/O.

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "net/socket_address.h"

namespace dynamo::gateway {

inline constexpr uint16_t kNatPmpPort = 5351;  // RFC 6886 §3

// Version 0, opcode 0 (RFC 6886 §3.2).
std::array<uint8_t, 2> natPmpExternalAddressRequest();

struct NatPmpResponse {
    enum class Kind {
        Address,    // result 0: address holds the router's external address
        Error,      // a result code other than 0 (result, resultText())
        PcpServer,  // version 2: a PCP-only server refusing version 0 (RFC 6887 §9)
        NotOurs,    // too short, another opcode, a version we do not know: ignored
    };
    Kind kind = Kind::NotOurs;
    uint16_t result = 0;
    uint32_t epoch = 0;  // seconds since the router's mappings were reset (RFC 6886 §3.6)
    net::IpAddress address;
};

// Any datagram from the router's port 5351; never throws, never asserts.
NatPmpResponse parseNatPmpResponse(std::span<const uint8_t> datagram);

// "NAT-PMP result 3: network failure" for the log and AddressAnswer::error (RFC 6886 §3.5).
std::string natPmpResultText(uint16_t result);

}  // namespace dynamo::gateway
