#include "gateway/address/router_source.h"

namespace dynamo::gateway {

// Not built yet: the router protocols arrive with their own codecs.
std::unique_ptr<AddressSource> makeRouterSource(event_base*, const RouterSourceOptions&,
                                                std::string* error) {
    if (error)
        *error = "router: not built yet";
    return nullptr;
}

}  // namespace dynamo::gateway
