// /status: one self-contained page for a phone on the home network. No scripts, no external
// resources (the appliance may have no Internet when someone needs this page most), inline CSS
// that follows the device's light or dark setting, and a meta refresh instead of polling.

#include <array>

#include "gateway/status/status_charts.h"
#include "gateway/status/status_counters.h"
#include "gateway/status/status_report.h"

namespace dynamo::gateway {

namespace {

constexpr std::string_view kStyle = R"css(
:root{color-scheme:light dark;--bg:#f4f6f8;--card:#fff;--fg:#1b1f24;--muted:#5b6470;
--line:#d8dde3;--ok:#1a7f37;--bad:#b42318;--bad-bg:#fdecea}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1b2026;--fg:#e6e9ed;
--muted:#9aa4ae;--line:#2e353d;--ok:#4cc26a;--bad:#ff7b72;--bad-bg:#3a1d1d}}
body{margin:0 auto;max-width:42rem;padding:1rem;background:var(--bg);color:var(--fg);
font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
h1{font-size:1.4rem;margin:0}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
h3{font-size:1.05rem;margin:0 0 .5rem;overflow-wrap:anywhere}
table.upstream{margin:.75rem 0}
caption{text-align:left;padding:.35rem 0;overflow-wrap:anywhere}
.meta,small,.none{color:var(--muted)}
.meta{margin:.25rem 0 0;font-size:.9rem}
.account,table{background:var(--card);border:1px solid var(--line);border-radius:.6rem}
.account{padding:.75rem 1rem;margin:.75rem 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem .75rem;margin:0}
dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere}
code,.published-ip{font-family:ui-monospace,Menlo,Consolas,monospace}
.published-ip{font-weight:600}
.result-ok{color:var(--ok)}
.result-error{color:var(--bad)}
.warning{margin:.75rem 0 0;padding:.5rem .75rem;border:1px solid var(--bad);border-radius:.4rem;
background:var(--bad-bg);color:var(--bad);font-weight:600}
table{width:100%;border-collapse:separate;border-spacing:0;overflow:hidden}
th,td{padding:.35rem .75rem;border-bottom:1px solid var(--line)}
tr:last-child th,tr:last-child td{border-bottom:0}
th{text-align:left;font-weight:normal}
td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.local-names td{text-align:left;white-space:normal;overflow-wrap:anywhere}
@media (max-width:22rem){dl{grid-template-columns:1fr}dd{margin-bottom:.3rem}}
)css";

// The charts and the address history (appendHistory()).
constexpr std::string_view kHistoryStyle = R"css(
figure.chart{margin:.75rem 0;padding:.5rem .75rem;background:var(--card);
border:1px solid var(--line);border-radius:.6rem}
.chart-svg,.timeline-svg{display:block;max-width:100%;height:auto}
figcaption{display:flex;flex-wrap:wrap;gap:.2rem .9rem;font-size:.9rem}
.swatch{display:inline-block;width:.8rem;height:.8rem;border-radius:.2rem;margin-right:.3rem;
vertical-align:-.05rem}
.history ol{margin:.25rem 0;padding-left:1.25rem}
)css";

// Chart colours, distinguishable in the light and the dark scheme.
constexpr std::array<std::string_view, kSeriesKinds> kSeriesColors = {
    "#1f77b4", "#2ca02c", "#9467bd", "#d62728",              // queries
    "#2ca02c", "#7f7f7f", "#ff7f0e", "#d62728", "#8c564b"};  // updates

// "2024-05-01 12:34:56 UTC": the absolute time next to a relative one.
std::string readableUtc(TimePoint time) {
    std::string text = formatRfc3339(time);
    text[10] = ' ';
    text.back() = ' ';
    return text + "UTC";
}

// "3 minutes ago (2024-05-01 12:34:56 UTC)", machine-readable in the datetime attribute.
std::string timeElement(TimePoint when, TimePoint now) {
    return "<time datetime=\"" + formatRfc3339(when) + "\">" + describeRelative(when, now) +
           "</time> <small>(" + readableUtc(when) + ")</small>";
}

// Tenths of a millisecond: finer is noise on this page.
std::string formatMilliseconds(std::chrono::microseconds duration) {
    const int64_t tenths = duration.count() / 100;
    std::string text = std::to_string(tenths / 10);
    if (tenths % 10 != 0)
        text += "." + std::to_string(tenths % 10);
    return text + " ms";
}

std::string formatBound(std::chrono::microseconds bound) {
    if (bound < std::chrono::seconds(1))
        return std::to_string(bound.count() / 1000) + " ms";
    return formatSeconds(bound) + " s";
}

// The bucket bound within which `percent` of the timed queries were answered: a histogram gives
// no more than that.
std::string quantileBound(const resolver::LatencyHistogram& histogram, uint64_t percent) {
    const uint64_t wanted = (histogram.count() * percent + 99) / 100;
    for (size_t i = 0; i < resolver::LatencyHistogram::kBounds.size(); ++i) {
        if (histogram.cumulativeCount(i) >= wanted)
            return "≤ " + formatBound(resolver::LatencyHistogram::kBounds[i]);
    }
    return "&gt; " + formatBound(resolver::LatencyHistogram::kBounds.back());
}

bool resultIsSuccess(std::string_view code) {
    return code == "UP,OK" || code == "UP,ER" || code == "NC";
}

void row(std::string& out, std::string_view label, const std::string& value) {
    out += "<tr><th scope=\"row\">";
    out += label;
    out += "</th><td>";
    out += value;
    out += "</td></tr>\n";
}

void row(std::string& out, std::string_view label, uint64_t value) {
    row(out, label, std::to_string(value));
}

void appendQueued(std::string& out, const UpdateScheduler::AccountStatus& account, TimePoint now) {
    if (!account.queued) {
        out += "<dd class=\"queued none\">nothing</dd>\n";
        return;
    }
    const QueuedUpdate& queued = *account.queued;
    out += "<dd class=\"queued\">";
    if (queued.ip) {
        out += "<span class=\"queued-ip\">" + escapeHtml(queued.ip->toString()) + "</span>";
    } else {
        // No address sent: the service takes the one our request comes from.
        out += "<span class=\"queued-ip\">this network's public address</span>";
    }
    out += ", accepted " + timeElement(queued.acceptedAt, now) + " from " +
           std::string(toString(queued.origin)) + "; ";
    if (account.callInFlight) {
        out += "being sent now";
    } else if (queued.nextAttempt <= now) {
        out += "due now";
    } else {
        out += "to be sent <span class=\"next-attempt\">" + timeElement(queued.nextAttempt, now) +
               "</span>";
    }
    if (queued.attempts > 0) {
        out += "; " + std::to_string(queued.attempts) +
               (queued.attempts == 1 ? " attempt" : " attempts") + " failed so far";
    }
    out += "</dd>\n";
}

void appendAccount(std::string& out, const UpdateScheduler::AccountStatus& account, TimePoint now) {
    const std::string name = escapeHtml(account.username);
    out += "<section class=\"account\" id=\"account-" + name + "\">\n";
    out += "<h3 class=\"username\">" + name + "</h3>\n<dl>\n";

    out += "<dt>Token</dt><dd><code class=\"token\">" + escapeHtml(account.maskedToken) +
           "</code></dd>\n";

    out += "<dt>Published address</dt>";
    if (account.confirmedIp) {
        out += "<dd><span class=\"published-ip\">" + escapeHtml(account.confirmedIp->toString()) +
               "</span> <small class=\"origin\">(from " +
               std::string(toString(account.confirmedOrigin)) + ")</small></dd>\n";
    } else {
        out += "<dd class=\"none\">none confirmed yet</dd>\n";
    }

    out += "<dt>Changed</dt>";
    out += account.changedAt ? "<dd class=\"changed-at\">" + timeElement(*account.changedAt, now)
                             : std::string("<dd class=\"changed-at none\">never");
    out += "</dd>\n";

    out += "<dt>Last call</dt>";
    out += account.lastCall ? "<dd class=\"last-call\">" + timeElement(*account.lastCall, now)
                            : std::string("<dd class=\"last-call none\">never");
    out += "</dd>\n";

    out += "<dt>Last result</dt>";
    if (account.lastResult.empty()) {
        out += "<dd class=\"last-result none\">no call yet";
    } else {
        out += "<dd class=\"last-result ";
        out += resultIsSuccess(account.lastResult) ? "result-ok" : "result-error";
        out += "\"><code>" + escapeHtml(account.lastResult) + "</code>";
        if (!account.lastResultText.empty())
            out += ": " + escapeHtml(account.lastResultText);
    }
    if (account.callInFlight)
        out += " <small>(a call is in progress)</small>";
    out += "</dd>\n";

    // Self-update: the gateway keeps this account current from the public address it
    // detects (README "Keeping the address current without a device").
    out += "<dt>Self-update</dt>";
    out += account.selfUpdate ? "<dd class=\"self-update on\">on</dd>\n"
                              : "<dd class=\"self-update none\">off (devices only)</dd>\n";

    out += "<dt>Queued</dt>";
    appendQueued(out, account, now);
    out += "</dl>\n";

    if (account.missingRecord) {
        out += "<p class=\"warning missing-record\" role=\"alert\">";
        out += kMissingRecordWarning;
        out += "</p>\n";
    }
    out += "</section>\n";
}

// The count, then what a histogram tells a person: the mean and two bounds (no rows of their
// own in the counter table, as they are not numbers /metrics or the JSON carry).
void appendLatencyRows(std::string& out, std::string_view label,
                       const resolver::LatencyHistogram& latency) {
    row(out, label, latency.count());
    if (latency.count() > 0) {
        row(out, "Upstream latency, mean",
            formatMilliseconds(latency.sum() / static_cast<int64_t>(latency.count())));
        row(out, "Upstream latency, median", quantileBound(latency, 50));
        row(out, "Upstream latency, 90%", quantileBound(latency, 90));
    }
}

// The counter table's rows for `table`, in its order.
void appendCounterTable(std::string& out, const StatusReport& report, PageTable table,
                        std::string_view id) {
    out += "<table class=\"counters\" id=\"";
    out += id;
    out += "\">\n";
    for (const CounterFamily& family : counterFamilies()) {
        if (family.page != table)
            continue;
        for (const CounterSample& sample : family.samples) {
            if (sample.pageLabel.empty())
                continue;
            if (family.shape == Shape::kHistogram)
                appendLatencyRows(out, sample.pageLabel, family.histogram(report));
            else
                row(out, sample.pageLabel, sample.value(report));
        }
    }
    out += "</table>\n";
}

// One small table per upstream: what a person checks when names stop resolving.
void appendUpstreams(std::string& out, const StatusReport& report) {
    if (report.dns.upstreams.empty())
        return;
    out += "<h3>Upstreams</h3>\n";
    size_t index = 0;
    for (const UpstreamReport& upstream : report.dns.upstreams) {
        out += "<table class=\"upstream\" id=\"upstream-" + std::to_string(index++) + "\">\n";
        out += "<caption><code class=\"upstream-address\">" + escapeHtml(upstream.address) +
               "</code></caption>\n";
        row(out, "State",
            std::string(upstream.up ? "<span class=\"upstream-state result-ok\">up</span>"
                                    : "<span class=\"upstream-state result-error\">down</span>") +
                " since " + timeElement(upstream.since, report.now));
        row(out, "Answers", upstream.answers);
        row(out, "Timeouts and failures", upstream.failures);
        if (!upstream.up || upstream.probes > 0)
            row(out, "Health checks while down", upstream.probes);
        const resolver::LatencyHistogram& latency = upstream.latency;
        if (latency.count() > 0) {
            row(out, "Latency, median", quantileBound(latency, 50));
            row(out, "Latency, 90%", quantileBound(latency, 90));
            row(out, "Latency, 99%", quantileBound(latency, 99));
        }
        out += "</table>\n";
    }
}

// What each kind of client is told for each local name (README "Your own names inside the
// network"): the device that sent the update gets the address it sent, everyone else the
// inside address.
void appendLocalNames(std::string& out, const std::vector<LocalNameReport>& names) {
    out += "<h2>Local names</h2>\n";
    out +=
        "<table class=\"local-names\">\n<tr><th scope=\"col\">Name</th>"
        "<th scope=\"col\">The updating device gets</th>"
        "<th scope=\"col\">Other clients get</th></tr>\n";
    for (const LocalNameReport& local : names) {
        out += "<tr><th scope=\"row\"><code>" + escapeHtml(local.name) + "</code></th>";
        out += local.toUpdaters.empty()
                   ? std::string("<td class=\"none\">no update yet</td>")
                   : "<td class=\"to-updaters\">" + escapeHtml(local.toUpdaters) + "</td>";
        out += "<td class=\"to-others\">" + escapeHtml(local.toOthers) + "</td></tr>\n";
    }
    out += "</table>\n";
}

// One row per alert channel: what was delivered and how the last attempt ended. The label is
// the dispatcher's (a webhook's URL without its path), escaped like every outside string.
void appendAlertChannels(std::string& out, const StatusReport& report) {
    out += "<h2>Alerts</h2>\n";
    if (report.alerts.channels.empty()) {
        out += "<p class=\"none\">No alert channels are configured.</p>\n";
        return;
    }
    out +=
        "<table class=\"alert-channels\" id=\"alert-channels\">\n<tr><th scope=\"col\">"
        "Channel</th><th scope=\"col\">Sent</th><th scope=\"col\">Failed</th><th scope=\"col\">"
        "Dropped</th><th scope=\"col\">Last result</th><th scope=\"col\">Last time</th></tr>\n";
    for (const AlertChannelReport& channel : report.alerts.channels) {
        out += "<tr><th scope=\"row\"><code>" + escapeHtml(channel.label) + "</code></th><td>" +
               std::to_string(channel.sent) + "</td><td>" + std::to_string(channel.failed) +
               "</td><td>" + std::to_string(channel.dropped) + "</td><td>";
        out += channel.lastResult.empty() ? std::string("<span class=\"none\">none yet</span>")
                                          : escapeHtml(channel.lastResult);
        out += "</td><td>";
        out += channel.lastTime ? "<time datetime=\"" + formatRfc3339(*channel.lastTime) + "\">" +
                                      describeRelative(*channel.lastTime, report.now) + "</time>"
                                : std::string("<span class=\"none\">never</span>");
        out += "</td></tr>\n";
    }
    out += "</table>\n";
}

// The public address the gateway believes, carrier-grade NAT, and each source's last answer.
void appendPublicAddress(std::string& out, const StatusReport& report) {
    const PublicAddressState& state = report.publicAddress;
    out += "<h2>Public address</h2>\n";
    if (!state.enabled) {
        out +=
            "<p class=\"none\">Detection is off (no <code>public_address</code> section and no "
            "account with <code>self_update</code>).</p>\n";
        return;
    }
    out += "<p id=\"public-address\">";
    if (state.believed) {
        out += "Believed: <strong class=\"public-address\">" +
               escapeHtml(state.believed->toString()) + "</strong>";
        std::string agreeing;
        for (const std::string& source : state.agreeing)
            agreeing += (agreeing.empty() ? "" : ", ") + source;
        out += " <small>(" + escapeHtml(agreeing) + ")</small>";
    } else {
        out += "<span class=\"none\">No address believed yet: no two sources agree.</span>";
    }
    out += "</p>\n";
    if (!state.disagreement.empty()) {
        out += "<p class=\"warning\" id=\"public-address-disagreement\">The sources disagree: " +
               escapeHtml(state.disagreement) + "</p>\n";
    }
    if (!state.cgnat.empty()) {
        out +=
            "<p class=\"warning\" id=\"cgnat\">Behind carrier-grade NAT: incoming connections "
            "will not reach this network (" +
            escapeHtml(state.cgnat) + ").</p>\n";
    }
    if (state.sources.empty())
        return;
    out +=
        "<table class=\"address-sources\" id=\"address-sources\">\n<tr><th scope=\"col\">"
        "Source</th><th scope=\"col\">Answer</th><th scope=\"col\">When</th></tr>\n";
    for (const SourceState& source : state.sources) {
        out += "<tr><th scope=\"row\"><code>" + escapeHtml(source.source) + "</code></th><td>";
        out += source.address ? escapeHtml(source.address->toString())
                              : "<span class=\"none\">" + escapeHtml(source.error) + "</span>";
        out += "</td><td>";
        out += source.at ? "<time datetime=\"" + formatRfc3339(*source.at) + "\">" +
                               describeRelative(*source.at, report.now) + "</time>"
                         : std::string("<span class=\"none\">never</span>");
        out += "</td></tr>\n";
    }
    out += "</table>\n";
}

// One chart of the per-minute series: the kinds of `group` ("queries", "updates").
std::string seriesChart(const SeriesView& series, std::string_view group, std::string_view id,
                        std::string_view title) {
    LineChart chart{.id = id, .title = title, .start = series.start, .step = series.step};
    for (size_t i = 0; i < kSeriesKinds; ++i) {
        const SeriesInfo& info = seriesInfo(static_cast<SeriesKind>(i));
        if (info.jsonGroup == group)
            chart.lines.push_back({info.jsonKey, info.label, kSeriesColors[i], series.values[i]});
    }
    return renderLineChart(chart);
}

std::string addressText(const std::optional<net::IpAddress>& ip) {
    return ip ? "<code>" + escapeHtml(ip->toString()) + "</code>"
              : std::string("this network's public address");
}

// The last 24 hours as charts, and each account's address changes and the service's answers
// (newest first, the last kHistoryRows of each; /status.json has them all).
void appendHistory(std::string& out, const StatusReport& report) {
    constexpr size_t kHistoryRows = 10;
    out += "<h2>Last 24 hours</h2>\n";
    out += seriesChart(report.series, "queries", "chart-queries", "DNS queries");
    out += seriesChart(report.series, "updates", "chart-updates", "Update replies to devices");

    out += "<h2>Address history</h2>\n";
    bool any = false;
    for (const AccountHistoryReport& account : report.history) {
        const AccountHistory& history = account.history;
        if (history.changes.empty() && history.answers.empty())
            continue;
        any = true;
        const std::string name = escapeHtml(account.username);
        out += "<section class=\"account history\" id=\"history-" + name + "\">\n<h3>" + name +
               "</h3>\n";
        out += renderAddressTimeline("timeline-" + account.username, account.username,
                                     history.changes, report.now);
        if (history.changes.empty()) {
            out += "<p class=\"none\">No address change recorded yet.</p>\n";
        } else {
            out += "<p>Address changes (newest first):</p>\n<ol class=\"address-changes\">\n";
            size_t shown = 0;
            for (auto it = history.changes.rbegin();
                 it != history.changes.rend() && shown < kHistoryRows; ++it, ++shown) {
                out += "<li class=\"change\">" + timeElement(it->time, report.now) + ": " +
                       addressText(it->address);
                if (it->previous)
                    out += " (was " + addressText(it->previous) + ")";
                out += ", from <span class=\"source\">" + std::string(toString(it->origin)) +
                       "</span></li>\n";
            }
            out += "</ol>\n";
        }
        if (!history.answers.empty()) {
            out += "<p>Answers of the service (newest first):</p>\n<ol class=\"answers\">\n";
            size_t shown = 0;
            for (auto it = history.answers.rbegin();
                 it != history.answers.rend() && shown < kHistoryRows; ++it, ++shown) {
                out += "<li class=\"answer ";
                out += resultIsSuccess(it->result) ? "result-ok" : "result-error";
                out += "\">" + timeElement(it->time, report.now) + ": <code class=\"result\">" +
                       escapeHtml(it->result) + "</code> for " + addressText(it->address) +
                       ", from <span class=\"source\">" + std::string(toString(it->origin)) +
                       "</span></li>\n";
            }
            out += "</ol>\n";
        }
        out += "</section>\n";
    }
    if (!any)
        out += "<p class=\"none\">No address change or service answer recorded yet.</p>\n";
}

}  // namespace

std::string renderStatusHtml(const StatusReport& report) {
    std::string out;
    out.reserve(8192);
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    out += "<meta name=\"color-scheme\" content=\"light dark\">\n";
    out +=
        "<meta http-equiv=\"refresh\" content=\"" + std::to_string(kStatusRefreshSeconds) + "\">\n";
    out += "<title>Dynamo Gateway status</title>\n<style>";
    out += kStyle;
    out += kHistoryStyle;
    out += "</style>\n</head>\n<body>\n<header>\n<h1>Dynamo Gateway</h1>\n";

    const auto uptime =
        std::chrono::duration_cast<std::chrono::seconds>(report.now - report.startedAt);
    out += "<p class=\"meta\">Version <span class=\"version\">" + escapeHtml(report.version) +
           "</span> · up <span class=\"uptime\">" + describeDuration(uptime) +
           "</span> <small>(since " + readableUtc(report.startedAt) + ")</small><br>As of " +
           "<time class=\"now\" datetime=\"" + formatRfc3339(report.now) + "\">" +
           readableUtc(report.now) + "</time></p>\n</header>\n<main>\n";

    out += "<h2>Accounts</h2>\n";
    if (report.accounts.empty())
        out += "<p class=\"none\">No accounts are configured.</p>\n";
    for (const auto& account : report.accounts)
        appendAccount(out, account, report.now);
    // Only for a gateway that has local names: most have none.
    if (!report.localNames.empty())
        appendLocalNames(out, report.localNames);
    appendHistory(out, report);

    out += "<h2>Updates</h2>\n";
    appendCounterTable(out, report, PageTable::kUpdates, "update-counters");
    out += "<h2>DNS</h2>\n";
    appendCounterTable(out, report, PageTable::kDns, "dns-counters");
    appendUpstreams(out, report);
    appendPublicAddress(out, report);
    appendAlertChannels(out, report);
    out += "</main>\n</body>\n</html>\n";
    return out;
}

}  // namespace dynamo::gateway
