// /devices: one self-contained page, like /status (no scripts, no external resources, inline
// CSS following the light or dark setting), with a card per device that leads with its
// diagnosis.

#include "gateway/devices/devices_view.h"

namespace dynamo::gateway {

namespace {

TimePoint fromUnix(int64_t seconds) {
    return TimePoint(std::chrono::seconds(seconds));
}

std::string jsonTime(int64_t seconds) {
    return seconds == 0 ? "null" : "\"" + formatRfc3339(fromUnix(seconds)) + "\"";
}

constexpr std::string_view kStyle = R"css(
:root{color-scheme:light dark;--bg:#f4f6f8;--card:#fff;--fg:#1b1f24;--muted:#5b6470;
--line:#d8dde3;--ok:#1a7f37;--bad:#b42318}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1b2026;--fg:#e6e9ed;
--muted:#9aa4ae;--line:#2e353d;--ok:#4cc26a;--bad:#ff7b72}}
body{margin:0 auto;max-width:42rem;padding:1rem;background:var(--bg);color:var(--fg);
font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
h1{font-size:1.4rem;margin:0}
h2{font-size:1.1rem;margin:0 0 .25rem;font-family:ui-monospace,Menlo,Consolas,monospace;
overflow-wrap:anywhere}
.meta,small,.none{color:var(--muted)}
.meta{margin:.25rem 0 1rem;font-size:.9rem}
.device{background:var(--card);border:1px solid var(--line);border-radius:.6rem;
padding:.75rem 1rem;margin:.75rem 0}
.diagnosis{margin:0 0 .5rem;font-weight:600}
.diagnosis.ok{color:var(--ok)}
.diagnosis.problem{color:var(--bad)}
ul{margin:.25rem 0;padding-left:1.1rem}
li{margin:.2rem 0;overflow-wrap:anywhere}
code{font-family:ui-monospace,Menlo,Consolas,monospace}
)css";

std::string timeText(int64_t seconds, TimePoint now) {
    return "<time datetime=\"" + formatRfc3339(fromUnix(seconds)) + "\">" +
           describeRelative(fromUnix(seconds), now) + "</time>";
}

std::string joinHostnames(const std::vector<std::string>& names) {
    std::string joined;
    for (const auto& name : names)
        joined += (joined.empty() ? "" : ", ") + name;
    return joined;
}

void renderDevice(std::string& out, const DeviceRecord& device, TimePoint now) {
    const std::string diagnosis = diagnose(device);
    out += "<section class=\"device\">\n<h2>" + escapeHtml(device.address) + "</h2>\n";
    out += "<p class=\"diagnosis ";
    out += diagnosis == "updates fine" ? "ok" : "problem";
    out += "\">" + escapeHtml(diagnosis) + "</p>\n";
    out += "<p class=\"meta\">last seen " + timeText(device.lastSeen, now) + ", first seen " +
           timeText(device.firstSeen, now) + "</p>\n<ul>\n";
    if (device.interceptedQueries > 0) {
        out += "<li>asked for <code>" + escapeHtml(device.lastQueryName) + "</code> " +
               std::to_string(device.interceptedQueries) + " times, last " +
               timeText(device.lastQuery, now) + "</li>\n";
    } else {
        out += "<li>never asked this gateway for an update service name</li>\n";
    }
    out += "<li>" + std::to_string(device.updateRequests) + " update requests</li>\n";
    for (auto it = device.updates.rbegin(); it != device.updates.rend(); ++it) {
        out += "<li>" + timeText(it->when, now) + ": ";
        if (it->auth == UpdateAuth::kNone)
            out += "no user name";
        else
            out += "user <code>" + escapeHtml(it->username) + "</code>";
        out += " (" + std::string(updateAuthName(it->auth)) + ")";
        if (!it->hostnames.empty())
            out += ", hosts <code>" + escapeHtml(joinHostnames(it->hostnames)) + "</code>";
        if (!it->myip.empty())
            out += ", myip <code>" + escapeHtml(it->myip) + "</code>";
        out += ", answered <code>" + escapeHtml(it->reply) + "</code>";
        if (!it->userAgent.empty())
            out += "<br><small>" + escapeHtml(it->userAgent) + "</small>";
        out += "</li>\n";
    }
    if (device.tlsFailureCount > 0) {
        out += "<li>" + std::to_string(device.tlsFailureCount) + " failed TLS handshakes</li>\n";
        for (auto it = device.tlsFailures.rbegin(); it != device.tlsFailures.rend(); ++it) {
            out += "<li>" + timeText(it->when, now) + ": " +
                   (it->fromClient ? "it refused us: " : "we refused it: ") +
                   escapeHtml(it->reason) + "</li>\n";
        }
    }
    out += "</ul>\n</section>\n";
}

}  // namespace

std::string renderDevicesHtml(const DeviceTable& table, TimePoint now) {
    std::string out =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta http-equiv=\"refresh\" content=\"" +
        std::to_string(kStatusRefreshSeconds) +
        "\">\n<title>Devices - Dynamo Gateway</title>\n<style>" + std::string(kStyle) +
        "</style>\n</head>\n<body>\n<h1>Devices</h1>\n<p class=\"meta\">" +
        std::to_string(table.size()) +
        " devices seen asking for an update service name, sending an update or trying HTTPS; "
        "most recent first. <a href=\"/status\">Status</a></p>\n";
    if (table.devices().empty())
        out += "<p class=\"none\">No device seen yet.</p>\n";
    for (const DeviceRecord& device : table.devices())
        renderDevice(out, device, now);
    out += "</body>\n</html>\n";
    return out;
}

std::string renderDevicesJson(const DeviceTable& table, TimePoint now) {
    std::string out = "{\"generated_at\":\"" + formatRfc3339(now) +
                      "\",\"capacity\":" + std::to_string(table.capacity()) + ",\"devices\":[";
    bool firstDevice = true;
    for (const DeviceRecord& device : table.devices()) {
        out += firstDevice ? "\n" : ",\n";
        firstDevice = false;
        out += "{\"address\":" + jsonString(device.address) +
               ",\"diagnosis\":" + jsonString(diagnose(device)) +
               ",\"first_seen\":" + jsonTime(device.firstSeen) +
               ",\"last_seen\":" + jsonTime(device.lastSeen) +
               ",\"intercepted_queries\":" + std::to_string(device.interceptedQueries) +
               ",\"last_query\":" + jsonTime(device.lastQuery) +
               ",\"last_query_name\":" + jsonString(device.lastQueryName) +
               ",\"update_requests\":" + std::to_string(device.updateRequests) + ",\"updates\":[";
        bool first = true;
        for (const UpdateAttempt& update : device.updates) {
            out += first ? "" : ",";
            first = false;
            out += "{\"when\":" + jsonTime(update.when) +
                   ",\"auth\":" + jsonString(updateAuthName(update.auth)) +
                   ",\"username\":" + jsonString(update.username) +
                   ",\"user_agent\":" + jsonString(update.userAgent) + ",\"hostnames\":[";
            for (size_t i = 0; i < update.hostnames.size(); ++i)
                out += (i == 0 ? "" : ",") + jsonString(update.hostnames[i]);
            out += "],\"myip\":" + jsonString(update.myip) +
                   ",\"reply\":" + jsonString(update.reply) + "}";
        }
        out += "],\"tls_failures_total\":" + std::to_string(device.tlsFailureCount) +
               ",\"tls_failures\":[";
        first = true;
        for (const TlsFailure& failure : device.tlsFailures) {
            out += first ? "" : ",";
            first = false;
            out += "{\"when\":" + jsonTime(failure.when) +
                   ",\"reason\":" + jsonString(failure.reason) +
                   ",\"from_client\":" + (failure.fromClient ? "true" : "false") + "}";
        }
        out += "]}";
    }
    out += "\n]}\n";
    return out;
}

}  // namespace dynamo::gateway
