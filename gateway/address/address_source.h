#pragma once
// One way of learning the network's public IPv4 address
// (docs/roadmap.md#public-address-and-alerts): the router (NAT-PMP, PCP, UPnP IGD), a DNS "whoami"
// name, an HTTP echo page. The monitor asks its sources in turn and believes an address two of them
// agree on.
//
// One thread, one event_base, no locks.

#include <functional>
#include <optional>
#include <string>

#include "net/socket_address.h"

namespace dynamo::gateway {

struct AddressAnswer {
    // Which source and how it was asked, for the status page and the log:
    // "router nat-pmp 192.168.1.1", "dns myip.opendns.com@208.67.222.222", "http http://...".
    std::string source;
    // The address the source reported; nullopt when it failed.
    std::optional<net::IpAddress> address;
    // Why it failed ("timeout", "refused", "NAT-PMP result 3: network failure"), or "" on success.
    std::string error;
};

class AddressSource {
  public:
    // Runs exactly once per ask(), never inside ask() itself (from a deferred event or an I/O
    // callback), at most the source's own timeout later.
    using Done = std::function<void(const AddressAnswer&)>;

    virtual ~AddressSource() = default;  // cancels a question in flight without calling back
    // What the status page calls it: "router", "dns", "http".
    virtual std::string kind() const = 0;
    // One question; a second ask() while one is in flight is answered with an error.
    virtual void ask(Done done) = 0;
};

}  // namespace dynamo::gateway
