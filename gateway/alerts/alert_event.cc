#include "gateway/alerts/alert_event.h"

#include <algorithm>
#include <cctype>

#include "gateway/status/status_report.h"
#include "net/log.h"

namespace dynamo::gateway {
namespace {

constexpr std::pair<AlertKind, std::string_view> kNames[] = {
    {AlertKind::Changed, "changed"},
    {AlertKind::Failing, "failing"},
    {AlertKind::MissingRecord, "missing_record"},
    {AlertKind::DnsDown, "dns_down"},
    {AlertKind::Cgnat, "cgnat"},
    {AlertKind::UncleanStop, "unclean_stop"},
    {AlertKind::Test, "test"},
};

std::string withoutNul(std::string_view text) {
    std::string result(text);
    std::replace(result.begin(), result.end(), '\0', ' ');
    return result;
}

}  // namespace

std::string_view alertKindName(AlertKind kind) {
    for (const auto& [k, name] : kNames) {
        if (k == kind)
            return name;
    }
    return "unknown";
}

std::optional<AlertKind> parseAlertKind(std::string_view name) {
    for (const auto& [kind, text] : kNames) {
        if (text == name)
            return kind;
    }
    return std::nullopt;
}

std::string webhookBody(const AlertEvent& event) {
    std::string body = "{\"event\": " + jsonString(alertKindName(event.kind));
    body += ", \"account\": " + jsonString(toValidUtf8(event.account));
    body += ", \"message\": " + jsonString(toValidUtf8(event.message));
    body += ", \"time\": " + jsonString(formatRfc3339(event.time));
    for (const auto& [name, value] : event.fields)
        body += ", " + jsonString(name) + ": " + jsonString(toValidUtf8(value));
    body += "}\n";
    return body;
}

std::string ntfyTitle(const AlertEvent& event) {
    std::string title = "dynamo-gateway: " + std::string(alertKindName(event.kind));
    if (!event.account.empty())
        title += " (" + event.account + ")";
    // A header value: no CR, LF or other control bytes (RFC 9110 §5.5); the account name comes
    // from the configuration, but stay safe whatever it holds.
    std::string clean;
    for (const char c : title) {
        const auto byte = static_cast<unsigned char>(c);
        clean.push_back(byte >= 0x20 && byte < 0x7f ? c : '?');
    }
    return clean;
}

std::vector<std::string> execEnvironment(const AlertEvent& event) {
    std::vector<std::string> env = {
        "DYNAMO_EVENT=" + std::string(alertKindName(event.kind)),
        "DYNAMO_ACCOUNT=" + withoutNul(event.account),
        "DYNAMO_MESSAGE=" + withoutNul(event.message),
        "DYNAMO_TIME=" + formatRfc3339(event.time),
    };
    for (const auto& [name, value] : event.fields) {
        std::string upper;
        for (const char c : name)
            upper.push_back(std::isalnum(static_cast<unsigned char>(c))
                                ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                                : '_');
        env.push_back("DYNAMO_" + upper + "=" + withoutNul(value));
    }
    return env;
}

bool channelWants(const config::AlertChannel& channel, AlertKind kind) {
    if (kind == AlertKind::Test || channel.events.empty())
        return true;
    return std::find(channel.events.begin(), channel.events.end(), alertKindName(kind)) !=
           channel.events.end();
}

std::string channelLabel(const config::AlertChannel& channel) {
    switch (channel.type) {
        case config::AlertChannel::Type::Exec:
            return "exec " + log::printable(channel.command, 120);
        case config::AlertChannel::Type::Webhook:
        case config::AlertChannel::Type::Ntfy: {
            const std::string_view url = channel.url;
            const size_t hostStart = url.find("://");
            const size_t pathStart =
                hostStart == std::string_view::npos ? url.size() : url.find('/', hostStart + 3);
            std::string shown = log::printable(url.substr(0, std::min(pathStart, url.size())), 120);
            shown += pathStart < url.size() && pathStart + 1 < url.size() ? "/…" : "/";
            return std::string(channel.type == config::AlertChannel::Type::Ntfy ? "ntfy "
                                                                                : "webhook ") +
                   shown;
        }
    }
    return "channel";
}

}  // namespace dynamo::gateway
