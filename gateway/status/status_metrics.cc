// /metrics: Prometheus text exposition format 0.0.4. Every name starts with dynamo_gateway_.
//
// dns_responses_total{outcome} partitions the queries: each query counted in
// dns_queries_total{transport} gets exactly one outcome, so the two sums are equal.
//   dropped      not answered at all: shorter than a header, or a response (QR=1)
//   refused      REFUSED, the client is outside dns.allow
//   formerr      FORMERR, the query did not parse
//   notimp       NOTIMP, an opcode other than QUERY
//   intercepted  answered here: a name of the update service (members.dyndns.org, ...)
//   cache_hit    answered from the cache
//   forwarded    sent to the forwarder (a cache miss); the answer may still be a SERVFAIL
// Two counters overlap those outcomes and are therefore separate families:
// dns_servfail_total (upstream failure, timeout, overload, or an upstream SERVFAIL) and
// dns_truncated_total (answers cut to TC=1 for a UDP client).
//
// updates_total{result}: the device's answer for each update that got that far. "queued" is
// an update accepted for the rate window (the device hears "good"); "911" a failed call that
// stays queued for retry. Requests refused for other reasons (nohost, notfqdn, numhost, a wrong
// method) appear only in update_requests_total.
//
// Per-account series carry account="<username>". account_last_change_timestamp_seconds and
// account_last_call_timestamp_seconds are absent for an account that never had one.

#include <utility>

#include "gateway/status/status_report.h"

namespace dynamo::gateway {

namespace {

constexpr std::string_view kPrefix = "dynamo_gateway_";

class MetricsWriter {
  public:
    // One family header. The help texts are constants without backslashes or newlines, so
    // they need no escaping.
    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_ += "# HELP ";
        out_ += kPrefix;
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE ";
        out_ += kPrefix;
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }
    // `labels` is empty or `key="escaped value",...` already.
    void sample(std::string_view name, std::string_view labels, std::string_view value) {
        out_ += kPrefix;
        out_ += name;
        if (!labels.empty()) {
            out_ += '{';
            out_ += labels;
            out_ += '}';
        }
        out_ += ' ';
        out_ += value;
        out_ += '\n';
    }
    void sample(std::string_view name, std::string_view labels, uint64_t value) {
        sample(name, labels, std::to_string(value));
    }
    // A family with a single unlabelled sample.
    void single(std::string_view name, std::string_view type, std::string_view help,
                uint64_t value) {
        family(name, type, help);
        sample(name, "", value);
    }

    std::string finish() { return std::move(out_); }

  private:
    std::string out_;
};

std::string label(std::string_view key, std::string_view value) {
    return std::string(key) + "=\"" + escapeLabelValue(value) + "\"";
}

std::string unixSeconds(TimePoint time) {
    return std::to_string(
        std::chrono::floor<std::chrono::seconds>(time).time_since_epoch().count());
}

void writeDns(MetricsWriter& metrics, const DnsReport& dns) {
    const resolver::DnsStats& queries = dns.queries;
    metrics.family("dns_queries_total", "counter", "DNS queries received, by transport.");
    metrics.sample("dns_queries_total", label("transport", "udp"), queries.udpQueries);
    metrics.sample("dns_queries_total", label("transport", "tcp"), queries.tcpQueries);

    metrics.family("dns_responses_total", "counter",
                   "DNS queries by how they were handled; one outcome per query.");
    const std::pair<std::string_view, uint64_t> outcomes[] = {
        {"dropped", queries.dropped},         {"refused", queries.refused},
        {"formerr", queries.formErr},         {"notimp", queries.notImp},
        {"intercepted", queries.intercepted}, {"cache_hit", queries.cacheHits},
        {"forwarded", queries.forwarded},
    };
    for (const auto& [outcome, value] : outcomes)
        metrics.sample("dns_responses_total", label("outcome", outcome), value);

    metrics.single("dns_intercepted_total", "counter",
                   "DNS queries for the update service's names answered with this host.",
                   queries.intercepted);
    metrics.single("dns_forwarded_total", "counter", "DNS queries passed to the upstreams.",
                   queries.forwarded);
    metrics.single("dns_servfail_total", "counter",
                   "SERVFAIL answers: upstream failure, timeout, overload or upstream SERVFAIL.",
                   queries.servFail);
    metrics.single("dns_truncated_total", "counter", "Answers truncated (TC=1) for a UDP client.",
                   queries.truncated);
    metrics.single("dns_cache_hits_total", "counter", "DNS cache lookups that hit.", dns.cacheHits);
    metrics.single("dns_cache_misses_total", "counter", "DNS cache lookups that missed.",
                   dns.cacheMisses);
    metrics.single("dns_cache_entries", "gauge", "Answers in the DNS cache.", dns.cacheEntries);

    metrics.single("dns_upstream_queries_total", "counter", "Queries sent upstream.",
                   dns.forwarder.sent);
    metrics.single("dns_upstream_coalesced_total", "counter",
                   "Queries that joined an identical one already in flight upstream.",
                   dns.forwarder.coalesced);
    metrics.single("dns_upstream_failures_total", "counter",
                   "Upstream queries that failed or timed out.", dns.forwarder.failed);
    metrics.single("dns_upstream_overloaded_total", "counter",
                   "Queries refused at the in-flight bound.", dns.forwarder.overloaded);
    metrics.single("dns_upstream_in_flight", "gauge", "Upstream queries awaiting an answer.",
                   dns.forwarderInFlight);

    const resolver::LatencyHistogram& latency = dns.upstreamLatency;
    constexpr std::string_view kLatency = "dns_upstream_latency_seconds";
    metrics.family(kLatency, "histogram",
                   "Time from sending a query upstream to its answer; failures are not observed.");
    for (size_t i = 0; i < resolver::LatencyHistogram::kBucketCount; ++i) {
        const std::string bound = i < resolver::LatencyHistogram::kBounds.size()
                                      ? formatSeconds(resolver::LatencyHistogram::kBounds[i])
                                      : "+Inf";
        metrics.sample(std::string(kLatency) + "_bucket", label("le", bound),
                       latency.cumulativeCount(i));
    }
    metrics.sample(std::string(kLatency) + "_sum", "", formatSeconds(latency.sum()));
    metrics.sample(std::string(kLatency) + "_count", "", latency.count());

    metrics.single("dns_tcp_connections", "gauge", "Open DNS-over-TCP client connections.",
                   dns.tcpConnections);
}

void writeUpdates(MetricsWriter& metrics, const StatusReport& report) {
    const UpdateEndpoint::Stats& updates = report.updates;
    metrics.single("update_requests_total", "counter", "DynDNS update requests received.",
                   updates.requests);
    metrics.family("updates_total", "counter", "DynDNS update requests by the device's answer.");
    const std::pair<std::string_view, uint64_t> results[] = {
        {"good", updates.good},  {"nochg", updates.noChange},  {"queued", updates.queued},
        {"911", updates.failed}, {"badauth", updates.badAuth},
    };
    for (const auto& [result, value] : results)
        metrics.sample("updates_total", label("result", result), value);
    metrics.single("update_queue_length", "gauge", "Accounts with an update waiting to be sent.",
                   queueLength(report));

    metrics.single("http_connections", "gauge",
                   "Open connections to the update listeners (counted up to a second late).",
                   report.http.connections);
    metrics.family("http_connections_closed_total", "counter",
                   "Connections the gateway closed: over the cap, or past their lifetime.");
    metrics.sample("http_connections_closed_total", label("reason", "over_cap"),
                   report.http.closedOverCap);
    metrics.sample("http_connections_closed_total", label("reason", "lifetime"),
                   report.http.closedLifetime);
}

void writeAccounts(MetricsWriter& metrics, const StatusReport& report) {
    metrics.family("account_last_change_timestamp_seconds", "gauge",
                   "When the service last confirmed a new address for the account's record.");
    for (const auto& account : report.accounts) {
        if (account.changedAt) {
            metrics.sample("account_last_change_timestamp_seconds",
                           label("account", account.username), unixSeconds(*account.changedAt));
        }
    }
    metrics.family("account_last_call_timestamp_seconds", "gauge",
                   "When the service was last called for the account's token.");
    for (const auto& account : report.accounts) {
        if (account.lastCall) {
            metrics.sample("account_last_call_timestamp_seconds",
                           label("account", account.username), unixSeconds(*account.lastCall));
        }
    }
    metrics.family("account_queued", "gauge", "1 when the account has an update waiting.");
    for (const auto& account : report.accounts) {
        metrics.sample("account_queued", label("account", account.username),
                       account.queued ? uint64_t{1} : uint64_t{0});
    }
    metrics.family("account_missing_record", "gauge",
                   "1 when the service answered NR/ND twice in a row: the token needs checking.");
    for (const auto& account : report.accounts) {
        metrics.sample("account_missing_record", label("account", account.username),
                       account.missingRecord ? uint64_t{1} : uint64_t{0});
    }
}

}  // namespace

std::string renderMetrics(const StatusReport& report) {
    MetricsWriter metrics;
    metrics.family("build_info", "gauge", "The running version; always 1.");
    metrics.sample("build_info", label("version", report.version), uint64_t{1});
    metrics.family("start_time_seconds", "gauge", "When the daemon started, in Unix seconds.");
    metrics.sample("start_time_seconds", "", unixSeconds(report.startedAt));
    writeDns(metrics, report.dns);
    writeUpdates(metrics, report);
    writeAccounts(metrics, report);
    return metrics.finish();
}

}  // namespace dynamo::gateway
