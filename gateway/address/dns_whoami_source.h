#pragma once
// A DNS "whoami" name as a source of the public address: a server that answers a special name
// with the address the question came from (myip.opendns.com A at OpenDNS's resolvers,
// o-o.myaddr.l.google.com TXT at Google's authoritative servers, whoami.cloudflare TXT CH at
// 1.1.1.1). Asked straight from this host through a c-ares channel of its own, never through
// dns.upstreams: a forwarding resolver in between would answer with its own address.

#include <event2/event.h>

#include <chrono>
#include <memory>

#include "config/config.h"
#include "gateway/address/address_source.h"

namespace dynamo::gateway {

// nullptr and *error when c-ares refuses the channel.
std::unique_ptr<AddressSource> makeDnsWhoamiSource(event_base* base,
                                                   const config::DnsWhoami& whoami,
                                                   std::chrono::milliseconds timeout,
                                                   std::string* error);

// "dns myip.opendns.com@208.67.222.222", "dns whoami.cloudflare TXT CH@1.1.1.1": how the status
// page names the source.
std::string describeWhoami(const config::DnsWhoami& whoami);

}  // namespace dynamo::gateway
