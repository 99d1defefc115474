#pragma once
// Which addresses are this daemon's own, so config refuses an upstream that would send queries
// back to us (docs/configuration.md#checks-across-keys: a forwarding loop) and drops such
// nameservers from the resolv.conf default. On an appliance resolv.conf often names the appliance
// itself (127.0.0.1, or its LAN address handed out by the router it serves), so this is the common
// case, not a corner.

#include <optional>
#include <string>
#include <vector>

#include "net/socket_address.h"

namespace dynamo::config {

// Whether a query sent to `target` is received by one of `listen`: the same ip:port, or a
// wildcard listener of `target`'s family on that port and `target` is a loopback or interface
// address of this host. A [::] listener does not count for IPv4 targets: our [::] sockets are
// IPV6_V6ONLY (net/bind_socket.cc).
bool reachesListener(const net::SocketAddress& target,
                     const std::vector<net::SocketAddress>& listen,
                     const std::vector<net::IpAddress>& localAddresses);

// Like reachesListener(), and more careful for addresses nobody wrote explicitly: a loopback
// nameserver is also dropped when we listen on a loopback address on its port.
bool mayReachListener(const net::SocketAddress& target,
                      const std::vector<net::SocketAddress>& listen,
                      const std::vector<net::IpAddress>& localAddresses);

bool hasWildcard(const std::vector<net::SocketAddress>& listen);

struct ResolvConf {
    std::vector<net::SocketAddress> nameservers;  // port 53
    std::optional<std::string> error;             // strerror when the file cannot be read
};
// The `nameserver` lines of a resolv.conf(5). Scoped IPv6 (fe80::1%eth0) is skipped: a
// SocketAddress has no scope id, and without one a link-local address cannot be reached.
ResolvConf readResolvConf(const std::string& path);

}  // namespace dynamo::config
