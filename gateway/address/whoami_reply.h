#pragma once
// Reading a DNS whoami answer (docs/configuration.md#public_address): the A record of
// myip.opendns.com, or the TXT record of o-o.myaddr.l.google.com or whoami.cloudflare (class
// CH), whose text is the address the server saw the question come from. Pure and bounded: the
// reply is untrusted bytes from the network.

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "net/socket_address.h"

namespace dynamo::gateway {

struct WhoamiReply {
    std::optional<net::IpAddress> address;
    std::string error;  // "" when address is set
};

// The first answer record of `type` (1 = A, 16 = TXT) in `reply` that holds one IPv4 address;
// for TXT each character-string is tried (Google may add an "edns0-client-subnet ..." string).
// Records of other types (a CNAME) are skipped; the class is not checked (a CH question gets a
// CH answer, which is all c-ares matched it with).
WhoamiReply parseWhoamiReply(std::span<const uint8_t> reply, uint16_t type);

}  // namespace dynamo::gateway
