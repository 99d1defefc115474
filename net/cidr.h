#pragma once
// Address ranges ("10.0.0.0/8", "::1/128", a bare address) and sets of them: the access list of
// the DNS and HTTP listeners.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/socket_address.h"

namespace dynamo::net {

class Cidr {
  public:
    static std::optional<Cidr> parse(std::string_view text);  // a bare address is a /32 or /128
    bool contains(const IpAddress& ip) const;
    std::string toString() const;

  private:
    IpAddress network_;
    unsigned prefixLength_ = 0;
};

class CidrSet {
  public:
    CidrSet() = default;
    explicit CidrSet(std::vector<Cidr> ranges) : ranges_(std::move(ranges)) {}
    // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches the IPv4 ranges. The DNS listeners
    // bind [::] with IPV6_V6ONLY, so their IPv4 clients arrive as IPv4; this covers any
    // dual-stack socket elsewhere.
    bool contains(const IpAddress& ip) const;
    const std::vector<Cidr>& ranges() const { return ranges_; }

  private:
    std::vector<Cidr> ranges_;
};

}  // namespace dynamo::net
