#pragma once
// Whether an address is one the Internet can reach: the one classification shared by the
// address a device reports (compat::addressToPublish()), the gateway's own public-address
// detection and its self-update, so that none of them ever publishes a private or carrier-grade
// NAT address.

#include "net/socket_address.h"

namespace dynamo::net {

// False for every range IANA's special-purpose registries mark as not globally reachable
// (RFC 6890 and successors). IPv4: 0/8, 10/8, 100.64/10 (carrier-grade NAT, RFC 6598), 127/8,
// 169.254/16, 172.16/12, 192.0.0/24, 192.0.2/24, 192.88.99/24 (retired 6to4 relays),
// 192.168/16, 198.18/15 (benchmarking), 198.51.100/24, 203.0.113/24, 224/4 (multicast), 240/4
// and the broadcast address. IPv6: everything outside global unicast 2000::/3 (loopback,
// unique-local fc00::/7, link-local fe80::/10, multicast ff00::/8...), and inside it
// 2001::/23 (IETF protocol assignments), 2001:db8::/32 and 3fff::/20 (documentation,
// RFC 3849 and RFC 9637). An IPv4-mapped IPv6 address is judged as the IPv4 address it
// carries. The documentation ranges count as not public: they are never a real network's
// address, so a source reporting one is misconfigured or a test.
bool isPublicUnicast(const IpAddress& ip);

}  // namespace dynamo::net
