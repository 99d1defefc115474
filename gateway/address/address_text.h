#pragma once
// Reading an IPv4 address out of what an echo service sends back: the body of an HTTP echo
// page (checkip.dyndns.org's "Current IP Address: a.b.c.d", or just the address) and the text
// of a DNS whoami TXT record (Google's o-o.myaddr.l.google.com, Cloudflare's
// whoami.cloudflare). Pure: no I/O; the text is untrusted and never asserted on.

#include <cstddef>
#include <optional>
#include <string_view>

#include "net/socket_address.h"

namespace dynamo::gateway {

// Bodies longer than this are not looked at past it: an echo page is a line or two.
inline constexpr size_t kMaxEchoBody = 4096;

// The address of an echo body: the one after "Current IP Address:" (any case, HTML around it
// allowed), else the whole body when it is one IPv4 address and white space. nullopt for
// anything else (two addresses, "1.2.3.4.5", an IPv6 address, an HTML error page).
std::optional<net::IpAddress> parseEchoBody(std::string_view body);

// One IPv4 address with optional white space around it, nothing else.
std::optional<net::IpAddress> parseBareIpv4(std::string_view text);

}  // namespace dynamo::gateway
