#pragma once
// This host's own addresses, for the two places that need them: config refuses an upstream
// that is one of our listeners (a forwarding loop), and `answer_ipv4/ipv6: auto` falls back to
// one when a query arrives over the other family.

#include <vector>

#include "net/socket_address.h"

namespace dynamo::net {

// Every IPv4 and IPv6 address of every interface (getifaddrs), up or down, link-local and
// container bridges included, non-loopback first; empty when the kernel will not say. Callers
// choose among them (the interceptor prefers global over link-local over loopback).
std::vector<IpAddress> interfaceAddresses();

}  // namespace dynamo::net
