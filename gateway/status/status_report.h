#pragma once
// What /status (HTML), /status.json and /metrics (Prometheus text) show
// (docs/operations.md#status-and-metrics), and the three renderers that turn it into a response
// body. Which numbers they show, under which metric names, JSON keys and page labels, is listed
// once in status_counters.h.
//
// Pure: the daemon fills a StatusReport at request time (a snapshot of counters and account
// states, the current time included) and a renderer formats it. Nothing here reads a clock, a
// socket or a file, so tests render hand-built reports and compare text, and "3 minutes ago" is
// computed from StatusReport::now, never from the system clock.
//
// Every string that comes from outside this file (user names, masked tokens, result texts,
// version) is treated as untrusted: escaped for the output format, and invalid UTF-8 replaced by
// U+FFFD so the JSON and the exposition format stay valid.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/address/address_vote.h"
#include "gateway/http/update_stats.h"
#include "gateway/updates/state_store.h"
#include "gateway/updates/update_scheduler.h"
// Only the resolver's plain counters: no Forwarder, no QueryHandler (nor c-ares behind them).
#include "resolver/dns_stats.h"
#include "resolver/latency_histogram.h"

namespace dynamo::gateway {

inline constexpr std::string_view kStatusHtmlContentType = "text/html; charset=utf-8";
inline constexpr std::string_view kStatusJsonContentType = "application/json";
// Prometheus text exposition format 0.0.4.
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// The HTML page reloads itself this often (seconds).
inline constexpr int kStatusRefreshSeconds = 30;

// What the page shows when UpdateScheduler::AccountStatus::missingRecord is set.
inline constexpr std::string_view kMissingRecordWarning =
    "The service does not know this token's record (NR/ND twice in a row): check the token, or "
    "contact KisoLabs support.";

// One upstream server (Forwarder::upstreams(), docs/dns.md#upstream-selection).
struct UpstreamReport {
    std::string address;  // "192.0.2.1:53", "[2001:db8::1]:53"
    bool up = true;
    TimePoint since;        // wall clock: when it was last marked up or down (or the start)
    uint64_t answers = 0;   // any answer, SERVFAIL and REFUSED included
    uint64_t failures = 0;  // timeouts and unreachable
    uint64_t probes = 0;    // health checks sent while it was down
    resolver::LatencyHistogram latency{};  // from send to answer
};

struct DnsReport {
    resolver::DnsStats queries;          // QueryHandler::stats()
    size_t cacheEntries = 0;             // DnsCache::size()
    uint64_t cacheHits = 0;              // DnsCache::hits()
    uint64_t cacheMisses = 0;            // DnsCache::misses()
    resolver::ForwarderStats forwarder;  // Forwarder::stats()
    size_t forwarderInFlight = 0;        // Forwarder::inFlight()
    size_t tcpConnections = 0;           // DnsServer::tcpConnections()
    resolver::LatencyHistogram upstreamLatency;
    std::vector<UpstreamReport> upstreams;  // in configuration order
};

struct HttpReport {
    size_t connections = 0;       // HttpConnectionGuard::tracked(): at most a sweep late
    uint64_t closedOverCap = 0;   // HttpConnectionGuard::refused()
    uint64_t closedLifetime = 0;  // HttpConnectionGuard::expired()
};

struct DevicesReport {
    size_t devices = 0;                 // DeviceTable::size()
    uint64_t tlsHandshakeFailures = 0;  // DeviceTable::tlsFailures()
};

// One alert channel (gateway/alerts/alert_dispatcher.h AlertChannelStats).
struct AlertChannelReport {
    std::string label;  // "webhook https://host/…", "exec /path": no secret in it
    uint64_t sent = 0;
    uint64_t failed = 0;
    uint64_t dropped = 0;
    std::string lastResult;
    std::optional<TimePoint> lastTime;
};

struct AlertsReport {
    uint64_t sent = 0;  // sums over the channels
    uint64_t failed = 0;
    uint64_t dropped = 0;
    uint64_t rateLimited = 0;  // events not sent at all
    std::vector<AlertChannelReport> channels;
};

// One local name (docs/dns.md#local-names) and what the gateway answers for it now, as
// resolver::LocalRecords::describe() tells it ("forwarded (no address yet)" while it has none).
struct LocalNameReport {
    std::string name;
    std::string toUpdaters;  // to a client that sent an accepted update; "" when none has
    std::string toOthers;    // to every other client
};

struct StatusReport {
    std::string version;  // dynamo::kVersion
    TimePoint startedAt;  // wall clock, when the daemon started
    TimePoint now;        // wall clock, the moment the report describes
    std::vector<UpdateScheduler::AccountStatus> accounts;  // UpdateScheduler::snapshot()
    DnsReport dns;
    UpdateStats updates;                      // UpdateEndpoint::stats()
    HttpReport http;                          // HttpServer::connections()
    DevicesReport devices;                    // the device list of /devices
    AlertsReport alerts;                      // AlertDispatcher::stats()
    std::vector<LocalNameReport> localNames;  // QueryHandler::localRecords().describe()
    PublicAddressState publicAddress;         // PublicAddressMonitor::state(); off: !enabled
};

// Accounts with an update waiting. Counted per account, as the page shows them: accounts that
// share a token show (and count) the token's one queued update each.
size_t queueLength(const StatusReport& report);

// The three bodies. Each ends with a newline.
std::string renderStatusHtml(const StatusReport& report);
std::string renderStatusJson(const StatusReport& report);
std::string renderMetrics(const StatusReport& report);

// Building blocks, public so they are tested on their own.

// Invalid UTF-8 (bad, overlong or truncated sequences, surrogates, > U+10FFFF) replaced, a byte
// at a time, by U+FFFD; valid text comes back unchanged.
std::string toValidUtf8(std::string_view text);
// & < > " ' as character references: safe in element content and quoted attribute values.
std::string escapeHtml(std::string_view text);
// A JSON string literal, quotes included (RFC 8259 §7): " \ and control characters escaped,
// everything else (non-ASCII included) passed through as UTF-8.
std::string jsonString(std::string_view text);
// A Prometheus label value, without the quotes: backslash, double quote and newline escaped.
std::string escapeLabelValue(std::string_view text);

// The "le" bound of the histogram bucket that holds the percent-th percentile of its
// observations ("0.005", "+Inf"), as /metrics and the JSON spell bucket bounds; nullopt when it
// observed nothing. A histogram knows no more than that bound.
std::optional<std::string> percentileBound(const resolver::LatencyHistogram& histogram,
                                           uint64_t percent);

// RFC 3339 in UTC, whole seconds: "2024-05-01T12:34:56Z".
std::string formatRfc3339(TimePoint time);
// Microseconds as decimal seconds, without trailing zeros: 1500 µs → "0.0015", 2 s → "2".
std::string formatSeconds(std::chrono::microseconds duration);
// "42 seconds", "5 minutes", "3 hours 5 minutes", "2 days 4 hours": the two largest units.
std::string describeDuration(std::chrono::seconds duration);
// `when` relative to `now`, rounded down to its largest unit: "just now", "3 minutes ago",
// "in 4 minutes", "in 2 hours".
std::string describeRelative(TimePoint when, TimePoint now);

}  // namespace dynamo::gateway
