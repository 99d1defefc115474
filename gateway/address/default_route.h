#pragma once
// The IPv4 default gateway, as `public_address.router: auto` finds the router: the kernel's
// routing table in /proc/net/route (per network namespace).

#include <optional>
#include <string>
#include <string_view>

#include "net/socket_address.h"

namespace dynamo::gateway {

// The gateway of the lowest-metric default route that is up (flags RTF_UP|RTF_GATEWAY) in the
// text of /proc/net/route; nullopt when there is none. Pure, for tests.
std::optional<net::IpAddress> defaultGatewayFromRouteTable(std::string_view table);

// Reads /proc/net/route; nullopt when it cannot be read or has no default route.
std::optional<net::IpAddress> defaultGateway();

}  // namespace dynamo::gateway
