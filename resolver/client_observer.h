#pragma once
// Who asked for an intercepted name: the one thing the resolver tells the gateway's device list
// (gateway/devices/), through this interface so resolver/ stays free of gateway/ headers. A
// device that looks members.dyndns.org up through us is about to update, or should be.
//
// Called on the loop thread, inside QueryHandler::handle(): an implementation must not block
// and must not call back into the handler. One thread, one event_base, no locks.

#include <string_view>

#include "net/socket_address.h"

namespace dynamo::resolver {

class ClientObserver {
  public:
    virtual ~ClientObserver() = default;
    // `name` is the question's presentation form (lower-case, no trailing dot).
    virtual void interceptedQuery(const net::IpAddress& client, std::string_view name) = 0;
};

}  // namespace dynamo::resolver
