#pragma once
// One DynDNS update request, parsed (docs/updates.md#paths-and-methods). The HTTP handler reads as:
//   parseUpdate() → findAccount() → checkHostnames() → (scheduler decides) → replyFor().
// Parsing judges nothing but the path and method: credentials are checked before anything
// about the names is said, as dyndns.org did (an unauthenticated client learns nothing).

#include <optional>
#include <string>
#include <vector>

#include "compat/credentials.h"
#include "compat/http_request.h"
#include "compat/my_ip.h"

namespace dynamo::compat {

struct UpdateRequest {
    // Trimmed, lower-cased, in request order; at most kMaxHostnames + 1 (see splitHostnames).
    std::vector<std::string> hostnames;
    MyIp myip;
    std::optional<Credentials> credentials;  // nullopt: none offered → 401 challenge
};

struct ParsedUpdate {
    enum class Status {
        Ok,
        NotFound,          // not an update path → HTTP 404
        MethodNotAllowed,  // an update path, but neither GET nor POST → HTTP 405
    };
    Status status = Status::NotFound;
    UpdateRequest request;  // filled in with Status::Ok
};

// Paths: /nic/update and /v3/update (the dyndns2 protocol), and the legacy /nic/dyndns and
// /nic/statdns of DynDNS's old dynamic/static services, where `host_id` names the host (their
// `hostname` parameter was a yes/no flag; used only when host_id is absent).
// GET reads the query; POST reads the query and a form body (Content-Type
// application/x-www-form-urlencoded, or none: a hand-rolled client may omit it), query first.
// system, wildcard, mx, backmx, offline and url are accepted and ignored.
ParsedUpdate parseUpdate(const HttpRequest& request);

}  // namespace dynamo::compat
