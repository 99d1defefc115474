#pragma once
// Which address the gateway asks the token API to publish (docs/updates.md#address-to-publish): the
// IPv4 in `myip` when it is a public address; otherwise none, and the service takes the address the
// call comes from, which is this appliance's public address behind the same NAT as the device.
//
// Devices report private addresses all the time (a camera reporting its LAN address, a router
// behind another router or CGNAT reporting its WAN side); publishing one would break the name.

#include <optional>

#include "compat/my_ip.h"
#include "net/socket_address.h"

namespace dynamo::compat {

// False for every IPv4 range IANA's special-purpose registry marks as not globally reachable
// (RFC 6890 and successors): 0/8, 10/8, 100.64/10 (CGNAT), 127/8, 169.254/16, 172.16/12,
// 192.0.0/24, 192.0.2/24, 192.88.99/24 (retired 6to4 relays), 192.168/16, 198.18/15
// (benchmarking), 198.51.100/24, 203.0.113/24, 224/4 (multicast), 240/4 and the broadcast
// address. The documentation ranges (TEST-NET-1/2/3) count as not public: they are never a
// real device's address, so a device reporting one is misconfigured or a test. Tests that
// want an address published must use a globally routable one (e.g. 1.2.3.4).
// False for IPv6 addresses too (the token API takes IPv4 only).
bool isPublicIpv4(const net::IpAddress& ip);

// The IPv4 to send as `ip=`, or nullopt: "send no ip; the service uses our source address".
std::optional<net::IpAddress> addressToPublish(const MyIp& myip);

}  // namespace dynamo::compat
