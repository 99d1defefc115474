#pragma once
// A transport-neutral view of one HTTP request, as the gateway's HTTP/HTTPS listeners fill it in.
// compat/ reads only these fields, so the DynDNS protocol is tested without sockets or libevent.

#include <optional>
#include <string>

#include "net/socket_address.h"

namespace dynamo::compat {

struct HttpRequest {
    std::string method;  // "GET", "POST", ... as received
    // The path without the query, not percent-decoded ("/nic/update"). Some camera firmware
    // sends the absolute form ("http://members.dyndns.org/nic/update"); parseUpdate() copes.
    std::string path;
    std::string query;          // raw, after '?', without a fragment; empty when there is none
    std::string authorization;  // the Authorization header's value; empty when absent
    std::string contentType;    // the Content-Type header's value; empty when absent
    std::string userAgent;      // the User-Agent header's value; empty when absent
    std::string cookie;         // the Cookie header's value (the /setup session); empty when absent
    std::string body;           // bounded by the listener
    net::IpAddress client;      // the device's address, for logs and the failure slow-down
    // The address the request came in on (this appliance's, as the client reached it), for
    // the /setup page's instructions; unset when getsockname() failed.
    std::optional<net::IpAddress> local;
};

}  // namespace dynamo::compat
