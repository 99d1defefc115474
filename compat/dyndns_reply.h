#pragma once
// What a device gets back (docs/updates.md#replies), and the mapping from token-API codes to it.
//
// Every reply but the credentials challenge is HTTP 200 text/plain: one line per hostname in
// request order, nothing else. Lines are joined by "\n" with NO trailing newline: ddclient
// splits the body into lines, inadyn and most firmware search it for a substring ("good",
// "nochg", "911"), and a client that compares the whole body to "good 1.2.3.4" still matches
// a single-host reply, which a trailing newline would break.
//
// Never produced: badagent (we have no user-agent policy), and badauth/abuse for anything on
// the service side: some clients stop updating for good on those (docs/updates.md#replies), while
// they retry after 911 (inadyn, for one, treats 911 and dnserr as "retry later").

#include <optional>
#include <string>
#include <string_view>

#include "compat/hostname.h"
#include "compat/my_ip.h"
#include "compat/token_api.h"
#include "net/socket_address.h"

namespace dynamo::compat {

enum class ReplyCode {
    Good,
    NoChg,
    BadAuth,
    NotFqdn,
    NoHost,
    NumHost,
    Abuse,
    BadAgent,
    DnsErr,
    ServerError,  // "911"
};

// The code as written on the wire: "good", "nochg", ..., "911" for ServerError.
std::string_view toString(ReplyCode code);

// What the update scheduler says about an accepted update.
enum class UpdateOutcome {
    Updated,   // UP,OK or UP,ER
    Queued,    // the token's rate window is closed: stored durably, sent when it opens
    NoChange,  // NC, or the address equals the last confirmed one (answered without a call)
    Failed,    // NR, ND, ER, TF, IN, NT, another body, non-200, timeout, TLS/DNS failure,
               // or the update could not be stored: it stays queued (if stored) for retry
};

// The table of docs/updates.md#reply-mapping for a 200 answer's body: UP,OK/UP,ER → Updated, NC →
// NoChange, every other code → Failed (TF included: nothing was updated and the window restarted).
UpdateOutcome outcomeFor(TokenApiCode code);

ReplyCode replyCodeFor(UpdateOutcome outcome);  // good, good, nochg, 911

struct DyndnsReply {
    int httpStatus = 200;
    std::string contentType = "text/plain";
    std::string wwwAuthenticate;  // set only on 401
    std::string body;
};

// 401, WWW-Authenticate: Basic realm="DynDNS API Access", body "badauth": for missing and
// wrong credentials alike (wget-based firmware only sends them after this challenge).
DyndnsReply badAuthReply();

// The reply after the scheduler decided. Whole-request errors of `hosts` give one line
// (numhost, notfqdn); otherwise one line per name: rejected names their notfqdn/nohost,
// accepted names "good <ip>", "nochg <ip>" or "911". `ip` is replyAddress()'s choice; when
// there is none, the line is the bare code.
DyndnsReply replyFor(const HostnameCheck& hosts, UpdateOutcome outcome,
                     const std::optional<net::IpAddress>& ip);

// The reply when the scheduler was not asked (!hosts.anyAccepted()). Should a name have been
// accepted after all, its line is 911: never claim an update that did not happen.
DyndnsReply replyFor(const HostnameCheck& hosts);

// The <ip> of "good <ip>" / "nochg <ip>" (docs/updates.md#replies): the address sent to the
// service; when none was sent, the best known public address (the last one the service confirmed);
// else the device's own myip (its IPv4, else its IPv6), so ddclient and friends record what they
// sent.
std::optional<net::IpAddress> replyAddress(const std::optional<net::IpAddress>& sent,
                                           const std::optional<net::IpAddress>& knownPublic,
                                           const MyIp& myip);

}  // namespace dynamo::compat
