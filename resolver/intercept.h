#pragma once
// Interception (docs/dns.md#interception): members.dyndns.org and friends are answered here,
// authoritatively, with this appliance's own address, so legacy devices send their DynDNS updates
// to gateway/. Pure code: the addresses come in as arguments.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "net/socket_address.h"
#include "resolver/dns_message.h"

namespace dynamo::resolver {

class Interceptor {
  public:
    explicit Interceptor(const config::InterceptConfig& config);

    // Whether the query's name is intercepted: an exact configured name, or a name strictly
    // below "*.example"'s "example". Compared in wire form (Message::qnameWire, already
    // lower-cased), so case, a trailing dot and RFC 1035 §5.1 escapes ("a\.example" is one
    // label, not a name below example) need no conversion per query.
    bool matches(const dns::Message& query) const { return matchesWire(query.qnameWire); }
    // `qnameWire`: an uncompressed, lower-cased wire name, as Message::qnameWire or
    // dns::nameToWire() gives it.
    bool matchesWire(std::string_view qnameWire) const;

    // The authoritative answer to a query for a matching name (docs/dns.md#interception): A →
    // answer_ipv4, AAAA → answer_ipv6, every other type → NODATA; AA set, TTL config.ttl, negative
    // answers carry a synthetic SOA. Auto picks `localAddress` (the address the query arrived on,
    // IPv4-mapped IPv6 unmapped) when its family fits and it is not unspecified, else the best
    // address of that family in `hostAddresses`, else NODATA. A QCLASS other than IN or ANY
    // gets REFUSED. `buffer`: storage to build the answer in, its capacity reused.
    std::vector<uint8_t> answer(std::span<const uint8_t> queryBytes, const dns::Message& query,
                                const net::IpAddress& localAddress,
                                const std::vector<net::IpAddress>& hostAddresses,
                                std::vector<uint8_t> buffer = {}) const;

  private:
    // The address to answer with for one family, or an unset IpAddress for NODATA.
    net::IpAddress pick(const config::InterceptAnswer& policy, int family,
                        const net::IpAddress& localAddress,
                        const std::vector<net::IpAddress>& hostAddresses) const;

    config::InterceptConfig config_;
    std::vector<std::string> exactWire_;     // lower-case wire form, as Message::qnameWire
    std::vector<std::string> wildcardWire_;  // the suffix of "*.suffix", wire form
};

}  // namespace dynamo::resolver
