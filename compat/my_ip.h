#pragma once
// The dyndns2 `myip` parameter in every form devices send (docs/updates.md#parameters):
//   absent             clients that leave the address to the server
//   ""                 a template whose address was unknown when it was filled ("myip=")
//   "1.2.3.4"          the classic form
//   "2001:db8::1"      IPv6-only clients
//   "1.2.3.4,2001:db8::1" / the reverse order: dual-stack update templates such as the
//                      FRITZ!Box's "<ipaddr>,<ip6addr>"
//   "1.2.3.4/32", "2001:db8::/56": a prefix, e.g. the FRITZ!Box's "<ip6lanprefix>"
//   "::ffff:1.2.3.4"   an IPv4-mapped IPv6 address: taken as the IPv4 it carries
//   garbage            e.g. an unsubstituted template placeholder ("<ipaddr>", "auto")
// A comma part that does not parse is ignored when another part does.

#include <optional>
#include <string_view>

#include "net/socket_address.h"

namespace dynamo::compat {

struct MyIp {
    enum class Form { Absent, Empty, Invalid, Address };
    Form form = Form::Absent;
    std::optional<net::IpAddress> v4;  // the first IPv4 address written, with Form::Address
    std::optional<net::IpAddress> v6;  // the first IPv6 address written, with Form::Address
};

MyIp parseMyIp(std::optional<std::string_view> value);

}  // namespace dynamo::compat
