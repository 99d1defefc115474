// The counter table. What the families mean, beyond their help texts:
//
// dns_responses_total{outcome} partitions the queries: each query counted in
// dns_queries_total{transport} gets exactly one outcome, so the two sums are equal.
//   dropped      not answered at all: shorter than a header, or a response (QR=1)
//   refused      REFUSED, the client is outside dns.allow
//   formerr      FORMERR, the query did not parse
//   notimp       NOTIMP, an opcode other than QUERY
//   badvers      BADVERS, an EDNS version above 0 (RFC 6891 §6.1.3)
//   intercepted  answered here: a name of the update service (members.dyndns.org, ...)
//   local        answered here: a local name (dns.records, accounts[].names)
//   cache_hit    answered from the cache
//   forwarded    sent to the forwarder (a cache miss); the answer may still be a SERVFAIL
// Three counters overlap those outcomes and are therefore separate families:
// dns_servfail_total (upstream failure, timeout, overload, or an upstream SERVFAIL),
// dns_truncated_total (answers cut to TC=1 for a UDP client) and dns_not_recursive_total
// (forwarded RD=0 queries the upstream gave nothing for, answered REFUSED).
//
// updates_total{result}: the device's answer for each update that got that far. "queued" is
// an update accepted for the rate window (the device hears "good"); "911" a failed call that
// stays queued for retry. Requests refused for other reasons (nohost, notfqdn, numhost, a wrong
// method) appear only in update_requests_total.
//
// account_last_change_timestamp_seconds and account_last_call_timestamp_seconds are absent for
// an account that never had one.

#include "gateway/status/status_counters.h"

#include <algorithm>

namespace dynamo::gateway {

namespace {

using Report = StatusReport;
using Account = UpdateScheduler::AccountStatus;
using Upstream = UpstreamReport;

int64_t unixSeconds(TimePoint time) {
    return std::chrono::floor<std::chrono::seconds>(time).time_since_epoch().count();
}

std::optional<int64_t> unixSeconds(const std::optional<TimePoint>& time) {
    if (!time)
        return std::nullopt;
    return unixSeconds(*time);
}

std::vector<CounterFamily> makeTable() {
    using enum MetricType;
    using enum PageTable;
    return {
        {.name = "build_info",
         .type = kGauge,
         .help = "The running version; always 1.",
         .labelKey = "version",
         .shape = Shape::kBuildInfo},
        {.name = "start_time_seconds",
         .type = kGauge,
         .help = "When the daemon started, in Unix seconds.",
         // The JSON's started_at and the page's header show it as a time, written by hand.
         .samples = {{.value =
                          [](const Report& r) {
                              return static_cast<uint64_t>(
                                  std::max<int64_t>(unixSeconds(r.startedAt), 0));
                          }}}},

        // ---- DNS ----
        {.name = "dns_queries_total",
         .help = "DNS queries received, by transport.",
         .labelKey = "transport",
         .page = kDns,
         .samples = {{"udp", "dns.queries.udp", "Queries over UDP",
                      [](const Report& r) { return r.dns.queries.udpQueries; }},
                     {"tcp", "dns.queries.tcp", "Queries over TCP",
                      [](const Report& r) { return r.dns.queries.tcpQueries; }}}},
        {.name = "dns_responses_total",
         .help = "DNS queries by how they were handled; one outcome per query.",
         .labelKey = "outcome",
         .page = kDns,
         .samples = {{"dropped", "dns.responses.dropped", "Dropped (not a DNS query)",
                      [](const Report& r) { return r.dns.queries.dropped; }},
                     {"refused", "dns.responses.refused", "Refused (not in <code>dns.allow</code>)",
                      [](const Report& r) { return r.dns.queries.refused; }},
                     {"formerr", "dns.responses.formerr", "Malformed (FORMERR)",
                      [](const Report& r) { return r.dns.queries.formErr; }},
                     {"notimp", "dns.responses.notimp", "Not a query (NOTIMP)",
                      [](const Report& r) { return r.dns.queries.notImp; }},
                     {"badvers", "dns.responses.badvers", "Unknown EDNS version (BADVERS)",
                      [](const Report& r) { return r.dns.queries.badVers; }},
                     {"intercepted", "dns.responses.intercepted", "Update host names answered here",
                      [](const Report& r) { return r.dns.queries.intercepted; }},
                     {"local", "dns.responses.local", "Local names answered here",
                      [](const Report& r) { return r.dns.queries.local; }},
                     {"cache_hit", "dns.responses.cache_hit", "Answered from the cache",
                      [](const Report& r) { return r.dns.queries.cacheHits; }},
                     {"forwarded", "dns.responses.forwarded", "Forwarded upstream",
                      [](const Report& r) { return r.dns.queries.forwarded; }}}},
        // The same two numbers as outcomes above, as families of their own for simple queries;
        // the JSON and the page show them once, as outcomes.
        {.name = "dns_intercepted_total",
         .help = "DNS queries for the update service's names answered with this host.",
         .samples = {{.value = [](const Report& r) { return r.dns.queries.intercepted; }}}},
        {.name = "dns_forwarded_total",
         .help = "DNS queries passed to the upstreams.",
         .samples = {{.value = [](const Report& r) { return r.dns.queries.forwarded; }}}},
        {.name = "dns_servfail_total",
         .help = "SERVFAIL answers: upstream failure, timeout, overload or upstream SERVFAIL.",
         .page = kDns,
         .samples = {{"", "dns.servfail", "Answered SERVFAIL",
                      [](const Report& r) { return r.dns.queries.servFail; }}}},
        {.name = "dns_truncated_total",
         .help = "Answers truncated (TC=1) for a UDP client.",
         .page = kDns,
         .samples = {{"", "dns.truncated", "Truncated for UDP",
                      [](const Report& r) { return r.dns.queries.truncated; }}}},
        {.name = "dns_not_recursive_total",
         .help = "RD=0 queries the upstream gave nothing for, answered REFUSED.",
         .page = kDns,
         .samples = {{"", "dns.not_recursive", "Refused without recursion (RD=0)",
                      [](const Report& r) { return r.dns.queries.notRecursive; }}}},
        {.name = "dns_stale_answers_total",
         .help = "Answers served from expired cache entries while the upstreams failed (RFC 8767).",
         .page = kDns,
         .samples = {{"", "dns.stale_answers", "Answered stale (upstreams failing)",
                      [](const Report& r) { return r.dns.queries.staleAnswers; }}}},
        {.name = "dns_prefetches_total",
         .help = "Background refreshes of popular cache entries shortly before they expire.",
         .page = kDns,
         .samples = {{"", "dns.prefetches", "Prefetches",
                      [](const Report& r) { return r.dns.queries.prefetches; }}}},
        {.name = "dns_cache_hits_total",
         .help = "DNS cache lookups that hit.",
         .page = kDns,
         .samples = {{"", "dns.cache.hits", "Cache hits",
                      [](const Report& r) { return r.dns.cacheHits; }}}},
        {.name = "dns_cache_misses_total",
         .help = "DNS cache lookups that missed.",
         .page = kDns,
         .samples = {{"", "dns.cache.misses", "Cache misses",
                      [](const Report& r) { return r.dns.cacheMisses; }}}},
        {.name = "dns_cache_entries",
         .type = kGauge,
         .help = "Answers in the DNS cache.",
         .page = kDns,
         .samples = {{"", "dns.cache.entries", "Cache entries",
                      [](const Report& r) -> uint64_t { return r.dns.cacheEntries; }}}},
        {.name = "dns_upstream_queries_total",
         .help = "Queries sent upstream.",
         .page = kDns,
         .samples = {{"", "dns.upstream.sent", "Upstream queries sent",
                      [](const Report& r) { return r.dns.forwarder.sent; }}}},
        {.name = "dns_upstream_coalesced_total",
         .help = "Queries that joined an identical one already in flight upstream.",
         .page = kDns,
         .samples = {{"", "dns.upstream.coalesced", "Joined an identical query in flight",
                      [](const Report& r) { return r.dns.forwarder.coalesced; }}}},
        {.name = "dns_upstream_failures_total",
         .help = "Upstream queries that failed or timed out.",
         .page = kDns,
         .samples = {{"", "dns.upstream.failed", "Upstream failures and timeouts",
                      [](const Report& r) { return r.dns.forwarder.failed; }}}},
        {.name = "dns_upstream_overloaded_total",
         .help = "Queries refused at the in-flight bound.",
         .page = kDns,
         .samples = {{"", "dns.upstream.overloaded", "Refused at the in-flight limit",
                      [](const Report& r) { return r.dns.forwarder.overloaded; }}}},
        {.name = "dns_upstream_port_shares_total",
         .help = "Upstream queries sent on a socket already past its batch: every channel busy.",
         .page = kDns,
         .samples = {{"", "dns.upstream.port_shares", "Sent on a busy source port",
                      [](const Report& r) { return r.dns.forwarder.portShares; }}}},
        {.name = "dns_upstream_in_flight",
         .type = kGauge,
         .help = "Upstream queries awaiting an answer.",
         .page = kDns,
         .samples = {{"", "dns.upstream.in_flight", "Upstream queries in flight",
                      [](const Report& r) -> uint64_t { return r.dns.forwarderInFlight; }}}},
        {.name = "dns_upstream_latency_seconds",
         .type = kHistogram,
         .help = "Time from sending a query upstream to its answer; failures are not observed.",
         .shape = Shape::kHistogram,
         .page = kDns,
         .samples = {{"", "dns.upstream.latency", "Upstream answers timed"}},
         .histogram = [](const Report& r) -> const resolver::LatencyHistogram& {
             return r.dns.upstreamLatency;
         }},
        // Per upstream (docs/dns.md#upstream-selection). Distinct names: the families above
        // are totals over all upstreams and carry no label.
        {.name = "dns_upstream_up",
         .type = kGauge,
         .help = "1 while the upstream is up, 0 while it is marked down (no answer to 3 queries).",
         .labelKey = "upstream",
         .shape = Shape::kPerUpstream,
         .perUpstream = [](const Upstream& u) -> int64_t { return u.up ? 1 : 0; }},
        {.name = "dns_upstream_state_since_timestamp_seconds",
         .type = kGauge,
         .help = "When the upstream was last marked up or down (or the daemon started), in Unix "
                 "seconds.",
         .labelKey = "upstream",
         .shape = Shape::kPerUpstream,
         .perUpstream = [](const Upstream& u) { return unixSeconds(u.since); }},
        {.name = "dns_upstream_answers_by_upstream_total",
         .help = "Answers from the upstream, SERVFAIL and REFUSED included.",
         .labelKey = "upstream",
         .shape = Shape::kPerUpstream,
         .perUpstream = [](const Upstream& u) { return static_cast<int64_t>(u.answers); }},
        {.name = "dns_upstream_failures_by_upstream_total",
         .help = "Queries to the upstream that timed out or found it unreachable.",
         .labelKey = "upstream",
         .shape = Shape::kPerUpstream,
         .perUpstream = [](const Upstream& u) { return static_cast<int64_t>(u.failures); }},
        {.name = "dns_upstream_probes_total",
         .help = "Health checks sent to the upstream while it was marked down.",
         .labelKey = "upstream",
         .shape = Shape::kPerUpstream,
         .perUpstream = [](const Upstream& u) { return static_cast<int64_t>(u.probes); }},
        {.name = "dns_upstream_latency_by_upstream_seconds",
         .type = kHistogram,
         .help = "Time from sending a query to the upstream to its answer.",
         .labelKey = "upstream",
         .shape = Shape::kPerUpstreamHistogram,
         .upstreamHistogram = [](const Upstream& u) -> const resolver::LatencyHistogram& {
             return u.latency;
         }},
        {.name = "dns_tcp_connections",
         .type = kGauge,
         .help = "Open DNS-over-TCP client connections.",
         .page = kDns,
         .samples = {{"", "dns.tcp_connections", "Open TCP connections",
                      [](const Report& r) -> uint64_t { return r.dns.tcpConnections; }}}},

        // ---- updates and their HTTP connections ----
        {.name = "update_requests_total",
         .help = "DynDNS update requests received.",
         .page = kUpdates,
         .samples = {{"", "updates.requests", "Update requests",
                      [](const Report& r) { return r.updates.requests; }}}},
        {.name = "updates_total",
         .help = "DynDNS update requests by the device's answer.",
         .labelKey = "result",
         .page = kUpdates,
         .samples = {{"good", "updates.good", "Updated (<code>good</code>)",
                      [](const Report& r) { return r.updates.good; }},
                     {"nochg", "updates.nochg", "Unchanged (<code>nochg</code>)",
                      [](const Report& r) { return r.updates.noChange; }},
                     {"queued", "updates.queued", "Queued for the rate window (<code>good</code>)",
                      [](const Report& r) { return r.updates.queued; }},
                     {"911", "updates.911", "Failed, will retry (<code>911</code>)",
                      [](const Report& r) { return r.updates.failed; }},
                     {"badauth", "updates.badauth", "Bad credentials (<code>badauth</code>)",
                      [](const Report& r) { return r.updates.badAuth; }}}},
        {.name = "update_queue_length",
         .type = kGauge,
         .help = "Accounts with an update waiting to be sent.",
         .page = kUpdates,
         .samples = {{"", "update_queue_length", "Updates waiting now",
                      [](const Report& r) -> uint64_t { return queueLength(r); }}}},
        {.name = "http_connections",
         .type = kGauge,
         .help = "Open connections to the update listeners (counted up to a second late).",
         .page = kUpdates,
         .samples = {{"", "http.connections", "Open HTTP connections",
                      [](const Report& r) -> uint64_t { return r.http.connections; }}}},
        {.name = "http_connections_closed_total",
         .help = "Connections the gateway closed: over the cap, or past their lifetime.",
         .labelKey = "reason",
         .page = kUpdates,
         .samples = {{"over_cap", "http.closed_over_cap",
                      "HTTP connections closed: too many at once",
                      [](const Report& r) { return r.http.closedOverCap; }},
                     {"lifetime", "http.closed_lifetime", "HTTP connections closed: open too long",
                      [](const Report& r) { return r.http.closedLifetime; }}}},
        {.name = "devices",
         .type = kGauge,
         .help = "Devices in the list of /devices (at most 1024).",
         .page = kUpdates,
         .samples = {{"", "devices.count", "Devices seen (<code>/devices</code>)",
                      [](const Report& r) -> uint64_t { return r.devices.devices; }}}},
        {.name = "tls_handshake_failures_total",
         .help = "TLS handshakes on the HTTPS listeners that ended in a fatal alert.",
         .page = kUpdates,
         .samples = {{"", "devices.tls_handshake_failures", "Failed TLS handshakes",
                      [](const Report& r) { return r.devices.tlsHandshakeFailures; }}}},

        // ---- alerts ----
        {.name = "alerts_total",
         .help =
             "Alerts by what became of them; sent, failed and dropped are summed over channels.",
         .labelKey = "result",
         .page = kUpdates,
         .samples = {{"sent", "alerts.sent", "Alerts delivered",
                      [](const Report& r) { return r.alerts.sent; }},
                     {"failed", "alerts.failed", "Alerts given up after retries",
                      [](const Report& r) { return r.alerts.failed; }},
                     {"dropped", "alerts.dropped", "Alerts dropped from a full queue",
                      [](const Report& r) { return r.alerts.dropped; }},
                     {"rate_limited", "alerts.rate_limited", "Alerts held back by the rate limit",
                      [](const Report& r) { return r.alerts.rateLimited; }}}},

        // ---- public address (README "Keeping the address current without a device") ----
        {.name = "public_address_rounds_total",
         .type = kCounter,
         .help = "Rounds of asking the public-address sources.",
         .samples = {{"", "public_address.rounds", "",
                      [](const Report& r) { return r.publicAddress.rounds; }}}},
        {.name = "public_address_disagreements_total",
         .type = kCounter,
         .help = "Rounds that ended with the public-address sources disagreeing.",
         .samples = {{"", "public_address.disagreements", "",
                      [](const Report& r) { return r.publicAddress.disagreements; }}}},
        {.name = "public_address_cgnat",
         .type = kGauge,
         .help = "1 when the network is behind carrier-grade or double NAT.",
         .samples = {{"", "public_address.cgnat", "",
                      [](const Report& r) -> uint64_t {
                          return r.publicAddress.cgnat.empty() ? 0 : 1;
                      }}}},

        // ---- per account (metrics only) ----
        {.name = "account_last_change_timestamp_seconds",
         .type = kGauge,
         .help = "When the service last confirmed a new address for the account's record.",
         .labelKey = "account",
         .shape = Shape::kPerAccount,
         .perAccount = [](const Account& a) { return unixSeconds(a.changedAt); }},
        {.name = "account_last_call_timestamp_seconds",
         .type = kGauge,
         .help = "When the service was last called for the account's token.",
         .labelKey = "account",
         .shape = Shape::kPerAccount,
         .perAccount = [](const Account& a) { return unixSeconds(a.lastCall); }},
        {.name = "account_queued",
         .type = kGauge,
         .help = "1 when the account has an update waiting.",
         .labelKey = "account",
         .shape = Shape::kPerAccount,
         .perAccount = [](const Account& a) -> std::optional<int64_t> { return a.queued ? 1 : 0; }},
        {.name = "account_missing_record",
         .type = kGauge,
         .help = "1 when the service answered NR/ND twice in a row: the token needs checking.",
         .labelKey = "account",
         .shape = Shape::kPerAccount,
         .perAccount = [](const Account& a) -> std::optional<int64_t> {
             return a.missingRecord ? 1 : 0;
         }},
    };
}

}  // namespace

const std::vector<CounterFamily>& counterFamilies() {
    static const std::vector<CounterFamily> table = makeTable();
    return table;
}

std::string_view metricTypeName(MetricType type) {
    switch (type) {
        case MetricType::kCounter:
            return "counter";
        case MetricType::kGauge:
            return "gauge";
        case MetricType::kHistogram:
            return "histogram";
    }
    return "untyped";
}

}  // namespace dynamo::gateway
