#pragma once
// dynamo.update_url taken apart into what one token-API request needs: scheme, host, port and
// the text that precedes the path. Pure: no I/O, no resolving.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/socket_address.h"

namespace dynamo::gateway {

// The parts of dynamo.update_url a request needs.
struct UpdateUrl {
    bool tls = true;   // https
    std::string host;  // lower-case; an IP literal without brackets
    uint16_t port = 443;
    std::string hostHeader;  // "host", "host:port", "[::1]:port"
    std::string origin;      // "https://host[:port]", what precedes the path in a full URL
    std::optional<net::IpAddress> literal;  // the host when it is an IP address

    // http:// or https://, a host, an optional port, an optional path; no user info, no query,
    // no fragment (the token is appended to the path). nullopt with *error otherwise.
    static std::optional<UpdateUrl> parse(std::string_view url, std::string* error);
};

}  // namespace dynamo::gateway
