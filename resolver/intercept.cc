#include "resolver/intercept.h"

#include <algorithm>
#include <optional>

namespace dynamo::resolver {

namespace {

constexpr uint16_t kClassAny = 255;  // QCLASS * (RFC 1035 §3.2.5)

// Which of a family's host addresses to prefer when the query's own local address does not
// fit: a global address reaches every client, a link-local one only its link, loopback only
// this host.
int preference(const net::IpAddress& address) {
    if (address.isLoopback())
        return 2;
    if (address.isV6() && address.bytes()[0] == 0xfe && (address.bytes()[1] & 0xc0) == 0x80) {
        return 1;  // fe80::/10
    }
    if (address.isV4() && address.bytes()[0] == 169 && address.bytes()[1] == 254)
        return 1;  // 169.254.0.0/16 (RFC 3927)
    return 0;
}

}  // namespace

Interceptor::Interceptor(const config::InterceptConfig& config) : config_(config) {
    for (const std::string& name : config_.names) {
        if (name.starts_with("*.")) {
            if (auto wire = dns::nameToWire(std::string_view(name).substr(2))) {
                wildcardWire_.push_back(std::move(*wire));
            }
        } else if (auto wire = dns::nameToWire(name)) {
            exactWire_.push_back(std::move(*wire));
        }
    }
}

bool Interceptor::matchesWire(std::string_view wire) const {
    if (std::find(exactWire_.begin(), exactWire_.end(), wire) != exactWire_.end())
        return true;
    return std::any_of(wildcardWire_.begin(), wildcardWire_.end(), [&](const std::string& suffix) {
        return dns::isStrictlyBelow(wire, suffix);
    });
}

net::IpAddress Interceptor::pick(const config::InterceptAnswer& policy, int family,
                                 const net::IpAddress& localAddress,
                                 const std::vector<net::IpAddress>& hostAddresses) const {
    using Mode = config::InterceptAnswer::Mode;
    if (policy.mode == Mode::Fixed) {
        return policy.fixed.family() == family ? policy.fixed : net::IpAddress();
    }
    if (policy.mode != Mode::Auto)
        return {};
    // The address the device reached us on is the one it can reach the gateway on
    // (docs/dns.md#interception). Our [::] sockets are IPV6_V6ONLY (bindSocket), so an IPv4 client
    // never arrives on
    // ::ffff:a.b.c.d; unmapped() only guards a caller that hands us such an address.
    const net::IpAddress local = localAddress.unmapped();
    if (local.family() == family && !local.isUnspecified())
        return local;
    const net::IpAddress* best = nullptr;
    for (const net::IpAddress& candidate : hostAddresses) {
        const net::IpAddress host = candidate.unmapped();
        if (host.family() != family || host.isUnspecified())
            continue;
        if (!best || preference(host) < preference(best->unmapped()))
            best = &candidate;
    }
    return best ? best->unmapped() : net::IpAddress();
}

std::vector<uint8_t> Interceptor::answer(std::span<const uint8_t> queryBytes,
                                         const dns::Message& query,
                                         const net::IpAddress& localAddress,
                                         const std::vector<net::IpAddress>& hostAddresses,
                                         std::vector<uint8_t> buffer) const {
    // We are authoritative for these names' IN data only. NODATA in CHAOS or HESIOD would
    // assert something about a namespace we do not serve; REFUSED (RFC 1035 §4.1.1, "for
    // policy reasons") says so plainly, without AA.
    if (query.qclass != dns::kClassIn && query.qclass != kClassAny) {
        return dns::errorResponse(queryBytes, &query, dns::Rcode::Refused);
    }
    dns::ResponseWriter writer(queryBytes, query, std::move(buffer));
    net::IpAddress address;
    if (query.qtype == dns::type::A) {
        address = pick(config_.answerIpv4, AF_INET, localAddress, hostAddresses);
    } else if (query.qtype == dns::type::AAAA) {
        address = pick(config_.answerIpv6, AF_INET6, localAddress, hostAddresses);
    }
    // Every other type (HTTPS, SVCB, MX, ANY...) is NODATA: an HTTPS record's address hints
    // would lead a device around the trick (docs/dns.md#interception). ANY is NODATA too, as
    // that page promises: less than RFC 8482's one RRset, but an intercepted name has nothing
    // a device needs beyond its A and AAAA.
    if (address.family() != AF_UNSPEC) {
        writer.addAnswer(query.qtype, config_.ttl,
                         std::span<const uint8_t>(address.bytes(), address.size()));
    } else {
        // RFC 2308 §3: a negative answer carries the SOA so it can be cached for its MINIMUM.
        writer.addSyntheticSoa(config_.ttl);
    }
    return writer.finish();
}

}  // namespace dynamo::resolver
