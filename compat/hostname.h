#pragma once
// The dyndns2 `hostname` list and its checks against an account (docs/updates.md#parameters).
//
// The token, not the host name, says which DNS record KisoLabs updates, so without an
// allow-list any name is fine, even "x" (devices insist on a name field; users type anything).
// Even then a name must be non-empty, at most 253 bytes and free of control characters: it
// ends up in logs and on the status page. With an allow-list (config::Account::hostnames) a
// name must be a well-formed DNS name (else notfqdn) and on the list (else nohost).

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace dynamo::compat {

// dyndns.org's limit: more names than this in one update → numhost.
constexpr size_t kMaxHostnames = 20;

// Splits a comma list: each name trimmed and ASCII lower-cased, empty entries dropped (a
// trailing or doubled comma is a template artefact, not a name). Stops after kMaxHostnames + 1
// names: one more is enough to answer numhost, and the work stays bounded.
std::vector<std::string> splitHostnames(std::string_view list);

enum class HostnameVerdict { Ok, NotFqdn, NoHost };

struct HostnameCheck {
    // Whole-request answers, one line each: more than kMaxHostnames → numhost; no name at
    // all (hostname absent or empty) → notfqdn, as dyndns.org answered.
    enum class Request { Ok, NumHost, NotFqdn };
    Request request = Request::NotFqdn;
    std::vector<HostnameVerdict> hosts;  // with Request::Ok: one per name, in request order

    // True when at least one name passed: the scheduler is asked only then.
    bool anyAccepted() const;
};

HostnameCheck checkHostnames(std::span<const std::string> hostnames,
                             const config::Account& account);

}  // namespace dynamo::compat
