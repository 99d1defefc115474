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

// net::isPublicUnicast() for IPv4 (RFC 6890's not-globally-reachable ranges, CGNAT's
// 100.64/10 and the documentation ranges included: tests that want an address published must
// use a globally routable one, e.g. 1.2.3.4); false for IPv6 (the token API takes IPv4 only).
bool isPublicIpv4(const net::IpAddress& ip);

// The IPv4 to send as `ip=`, or nullopt: "send no ip; the service uses our source address".
std::optional<net::IpAddress> addressToPublish(const MyIp& myip);

}  // namespace dynamo::compat
