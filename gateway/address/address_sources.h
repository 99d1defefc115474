#pragma once
// The sources public_address configures (docs/configuration.md#public_address), in its order:
// the router, then each dns_whoami entry, then each http_echo URL.

#include <event2/event.h>

#include <memory>
#include <vector>

#include "config/config.h"
#include "gateway/address/address_source.h"

namespace dynamo::gateway {

// A source that cannot be built (no default route for router: auto) is still listed: it
// answers with the reason, which the status page shows.
std::vector<std::unique_ptr<AddressSource>> makeAddressSources(event_base* base,
                                                               const config::Config& config);

}  // namespace dynamo::gateway
