#pragma once
// An HTTP echo page as a source of the public address: a GET of a URL whose body is
// "Current IP Address: a.b.c.d" (checkip.dyndns.org, the format DynDNS clients know) or just
// the address (address_text.h reads it). Over IPv4 only: the address wanted is the IPv4 one.

#include <event2/event.h>

#include <memory>
#include <string>

#include "config/config.h"
#include "gateway/address/address_source.h"

namespace dynamo::gateway {

// nullptr and *error when the client cannot be made (an unreadable dynamo.ca_file).
// Host names in `url` are resolved through `config.dns.upstreams`, as the token API's are.
std::unique_ptr<AddressSource> makeHttpEchoSource(event_base* base, const std::string& url,
                                                  const config::Config& config, std::string* error);

}  // namespace dynamo::gateway
