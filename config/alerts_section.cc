// The alerts section: when to raise "failing" and "dns_down", and where events go
// (docs/configuration.md#alerts). Webhook header values usually carry a bearer token: like
// passwords they never appear in a message, only the header's name does.

#include <algorithm>

#include "config/config_parser.h"
#include "net/ascii.h"

namespace dynamo::config {
namespace {

bool isKnownEvent(std::string_view name) {
    return std::find(std::begin(kAlertEventNames), std::end(kAlertEventNames), name) !=
           std::end(kAlertEventNames);
}

std::string eventList() {
    std::string list;
    for (const std::string_view name : kAlertEventNames) {
        if (!list.empty())
            list += ", ";
        list += name;
    }
    return list;
}

// RFC 9110 §5.1: a field name is a token.
bool isToken(std::string_view text) {
    if (text.empty())
        return false;
    return std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

}  // namespace

void ConfigParser::readAlerts(const Item& alerts) {
    AlertsConfig& target = config_.alerts;
    reader_.readMap(alerts, {
                                {"failing_after",
                                 [&](const Item& item) {
                                     if (auto value = readSeconds(item, std::chrono::seconds(60),
                                                                  std::chrono::seconds(7 * 86400)))
                                         target.failingAfter = *value;
                                 }},
                                {"dns_down_after",
                                 [&](const Item& item) {
                                     if (auto value = readSeconds(item, std::chrono::seconds(10),
                                                                  std::chrono::seconds(86400)))
                                         target.dnsDownAfter = *value;
                                 }},
                                {"channels",
                                 [&](const Item& item) {
                                     auto list = reader_.readList(item);
                                     if (!list)
                                         return;
                                     for (const Item& entry : *list)
                                         readAlertChannel(entry);
                                 }},
                            });
}

void ConfigParser::readAlertChannel(const Item& entry) {
    if (!entry.node.IsMap()) {
        reader_.error(entry, "expected a mapping with type and url or command, got " +
                                 std::string(describe(entry.node)));
        return;
    }
    AlertChannel channel;
    channel.line = entry.line;
    std::optional<Item> typeItem, urlItem, headersItem, commandItem;
    bool ok = true;
    reader_.readMap(
        entry,
        {
            {"type",
             [&](const Item& item) {
                 typeItem = item;
                 auto text = reader_.readString(item, "expected webhook, ntfy or exec");
                 if (!text) {
                     ok = false;
                 } else if (*text == "webhook") {
                     channel.type = AlertChannel::Type::Webhook;
                 } else if (*text == "ntfy") {
                     channel.type = AlertChannel::Type::Ntfy;
                 } else if (*text == "exec") {
                     channel.type = AlertChannel::Type::Exec;
                 } else {
                     reader_.error(item, "expected webhook, ntfy or exec, got " + inQuotes(*text));
                     ok = false;
                 }
             }},
            {"url",
             [&](const Item& item) {
                 urlItem = item;
                 auto text = reader_.readString(item, "expected a URL");
                 if (!text) {
                     ok = false;
                     return;
                 }
                 const std::string lower = net::lowerAscii(*text);
                 if (!lower.starts_with("https://") && !lower.starts_with("http://")) {
                     reader_.error(item, "must start with https:// (or http://)");
                     ok = false;
                     return;
                 }
                 const size_t hostStart = lower.find("://") + 3;
                 if (text->substr(hostStart, text->find('/', hostStart) - hostStart).find('@') !=
                     std::string::npos) {
                     // It would reach logs and status; a header carries credentials instead.
                     reader_.error(item, "must not carry user:password (use headers)");
                     ok = false;
                     return;
                 }
                 if (lower.starts_with("http://"))
                     reader_.warn(item, "plain http:// sends alerts unencrypted; use https://");
                 if (text->find_first_of("#\r\n \t") != std::string::npos) {
                     reader_.error(item, "must not contain '#' or white space");
                     ok = false;
                     return;
                 }
                 channel.url = *text;
             }},
            {"headers",
             [&](const Item& item) {
                 headersItem = item;
                 if (item.node.IsNull())
                     return;
                 if (!item.node.IsMap()) {
                     reader_.error(item, "expected a mapping of header names to values, got " +
                                             std::string(describe(item.node)));
                     ok = false;
                     return;
                 }
                 for (const auto& pair : item.node) {
                     const std::string name = pair.first.as<std::string>("");
                     const Item value{pair.second, item.path + "." + name,
                                      pair.second.Mark().line + 1};
                     if (!isToken(name)) {
                         reader_.error(value, "not a valid header name");
                         ok = false;
                         continue;
                     }
                     const std::string lower = net::lowerAscii(name);
                     if (lower == "host" || lower == "content-length" || lower == "content-type" ||
                         lower == "connection" || lower == "transfer-encoding") {
                         reader_.error(value, "is set by the gateway itself");
                         ok = false;
                         continue;
                     }
                     // The value is a secret: the message never quotes it.
                     if (!pair.second.IsScalar()) {
                         reader_.error(value, "expected a string");
                         ok = false;
                         continue;
                     }
                     const std::string text = pair.second.Scalar();
                     if (text.find_first_of("\r\n") != std::string::npos ||
                         std::any_of(text.begin(), text.end(), [](char c) {
                             return static_cast<unsigned char>(c) < 0x20 && c != '\t';
                         })) {
                         reader_.error(value, "must not contain control characters");
                         ok = false;
                         continue;
                     }
                     channel.headers.emplace_back(name, text);
                 }
             }},
            {"command",
             [&](const Item& item) {
                 commandItem = item;
                 auto text = reader_.readString(item, "expected an absolute path");
                 if (!text) {
                     ok = false;
                     return;
                 }
                 if (!text->starts_with("/")) {
                     reader_.error(item, "must be an absolute path (it runs without a shell)");
                     ok = false;
                     return;
                 }
                 channel.command = *text;
             }},
            {"events",
             [&](const Item& item) {
                 auto list = reader_.readList(item);
                 if (!list) {
                     ok = false;
                     return;
                 }
                 for (const Item& event : *list) {
                     auto name = reader_.readString(event, "expected an event name");
                     if (!name) {
                         ok = false;
                     } else if (!isKnownEvent(*name)) {
                         reader_.error(event, "unknown event " + inQuotes(*name) +
                                                  "; expected one of " + eventList());
                         ok = false;
                     } else if (std::find(channel.events.begin(), channel.events.end(), *name) ==
                                channel.events.end()) {
                         channel.events.push_back(*name);
                     }
                 }
                 if (ok && channel.events.empty())
                     reader_.error(item, "must name at least one event (leave it out for all)");
             }},
        });
    if (!typeItem) {
        reader_.error(entry, "type is required: webhook, ntfy or exec");
        return;
    }
    if (!ok)
        return;
    if (channel.type == AlertChannel::Type::Exec) {
        if (!commandItem)
            return reader_.error(entry, "an exec channel needs command");
        if (urlItem || headersItem)
            return reader_.error(urlItem ? *urlItem : *headersItem,
                                 "is for webhook and ntfy channels, not exec");
    } else {
        if (!urlItem)
            return reader_.error(entry, "a webhook or ntfy channel needs url");
        if (commandItem)
            return reader_.error(*commandItem, "is for exec channels only");
        if (headersItem && channel.type == AlertChannel::Type::Ntfy)
            return reader_.error(*headersItem, "is for webhook channels only");
    }
    config_.alerts.channels.push_back(std::move(channel));
}

}  // namespace dynamo::config
