#pragma once
// One alert (docs/configuration.md#alerts) and what each channel type makes of it: the webhook's
// JSON body, ntfy's title, the exec channel's environment. Pure: no I/O, no clock.
//
// Secrets never reach an event: the daemon builds messages from account names, addresses and
// result codes only, never from tokens, passwords or header values.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace dynamo::gateway {

enum class AlertKind { Changed, Failing, MissingRecord, DnsDown, Cgnat, UncleanStop, Test };

// "changed", "failing", "missing_record", "dns_down", "cgnat", "unclean_stop", "test".
std::string_view alertKindName(AlertKind kind);
std::optional<AlertKind> parseAlertKind(std::string_view name);

struct AlertEvent {
    AlertKind kind = AlertKind::Test;
    std::string account;  // "" for events of the whole gateway (dns_down, unclean_stop, test)
    std::string message;  // one sentence for a person
    std::chrono::system_clock::time_point time;
    // More fields for the webhook body, in this order ("address", "previous_address", ...).
    std::vector<std::pair<std::string, std::string>> fields;
};

// {"event": ..., "account": ..., "message": ..., "time": RFC 3339, then `fields`}.
std::string webhookBody(const AlertEvent& event);
// The ntfy Title header: "dynamo-gateway: changed (router)". Printable ASCII only.
std::string ntfyTitle(const AlertEvent& event);
// DYNAMO_EVENT=, DYNAMO_ACCOUNT=, DYNAMO_MESSAGE=, DYNAMO_TIME= (and DYNAMO_<FIELD>= for
// `fields`), each "NAME=value" for execve's envp. Values never hold a NUL.
std::vector<std::string> execEnvironment(const AlertEvent& event);

// The channel's events filter: empty takes every event; "test" goes to every channel.
bool channelWants(const config::AlertChannel& channel, AlertKind kind);

// How a channel is named in logs, status and --test-notify: "webhook https://host/…", the
// URL's path cut off (a Slack-style hook or an ntfy topic is itself a secret), or
// "exec /path/to/command".
std::string channelLabel(const config::AlertChannel& channel);

}  // namespace dynamo::gateway
