#pragma once
// The one check for host names, wherever a name comes from a person or a device: the names in
// the configuration (dns.intercept.names, accounts[].hostnames) and the `hostname` of a DynDNS
// update. Labels of 1..63 letters, digits, '-' or '_' (underscores occur in SRV-style and
// Windows names), 253 characters in all written out (RFC 1035 §2.3.4: 255 octets on the wire);
// one trailing dot (the absolute form) is allowed and ignored.
//
// The DNS codec's dns::nameToWire() is a different thing: it converts any name in presentation
// format (escapes included) to wire form, for names that have passed this check.

#include <optional>
#include <string>
#include <string_view>

namespace dynamo::net {

inline constexpr size_t kMaxHostnameLength = 253;
inline constexpr size_t kMaxLabelLength = 63;

bool isWellFormedHostname(std::string_view name);

// The form names are compared in: ASCII lower-case, without the trailing dot; nullopt when
// the name is not well formed. With `allowWildcard`, a leading "*." is kept and the rest checked.
std::optional<std::string> canonicalHostname(std::string_view name, bool allowWildcard = false);

}  // namespace dynamo::net
