#pragma once
// The one list of what /status, /status.json and /metrics count. Each entry is a Prometheus
// family (name, type, help, label key); each of its samples says where the same number goes in
// the JSON (a dotted path) and on the page (a row label), and how to read it from a
// StatusReport. The three renderers walk this list in its order, so a counter is added, renamed
// or described here once; README.md's metric table is checked against it by
// tests/unit/status_counters_test.cc.
//
// What is not a number of the report stays with its renderer: the JSON's and the page's header
// (version, times) and account objects and cards. The per-account metric families and
// build_info are listed here (names, help, getters) but flagged by their Shape, because a
// table row cannot express a sample per account or a label taken from the report.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "gateway/status/status_report.h"

namespace dynamo::gateway {

// Every metric name starts with this.
inline constexpr std::string_view kMetricPrefix = "dynamo_gateway_";

enum class MetricType { kCounter, kGauge, kHistogram };

// How a family's samples are produced.
enum class Shape {
    // One sample per entry of `samples`, each read by its `value`: the counters and gauges.
    kSamples,
    // `histogram`: _bucket{le}, _sum and _count in /metrics; count, sum_seconds and buckets in
    // the JSON; the count and the mean, median and 90% bounds on the page.
    kHistogram,
    // `perAccount` for each account, labelled account="<username>", no sample where it returns
    // nothing. Metrics only: the JSON and the page show accounts as objects and cards.
    kPerAccount,
    // Always 1, labelled version="<StatusReport::version>". Metrics only.
    kBuildInfo,
    // `perUpstream` for each of DnsReport::upstreams, labelled upstream="<address>". Metrics
    // only: the JSON (dns.upstreams) and the page show upstreams as objects and tables.
    kPerUpstream,
    // `upstreamHistogram` for each upstream: a histogram family whose every sample also carries
    // upstream="<address>". Metrics only, like kPerUpstream.
    kPerUpstreamHistogram,
};

// Which counter table of the page shows a family's samples.
enum class PageTable { kNone, kUpdates, kDns };

struct CounterSample {
    std::string_view labelValue{};  // "" in an unlabelled family
    std::string_view jsonPath{};    // dotted, "dns.cache.hits"; "" = not in /status.json
    std::string_view pageLabel{};   // HTML, a trusted constant; "" = not on /status
    uint64_t (*value)(const StatusReport&) = nullptr;  // Shape::kSamples only
};

struct CounterFamily {
    std::string_view name{};  // after kMetricPrefix
    MetricType type = MetricType::kCounter;
    std::string_view help{};      // a constant without backslash or newline: written as is
    std::string_view labelKey{};  // "" for an unlabelled family
    Shape shape = Shape::kSamples;
    PageTable page = PageTable::kNone;
    // kSamples: one per sample; kHistogram: one, unlabelled, for its JSON path and page label.
    std::vector<CounterSample> samples{};
    const resolver::LatencyHistogram& (*histogram)(const StatusReport&) = nullptr;
    std::optional<int64_t> (*perAccount)(const UpdateScheduler::AccountStatus&) = nullptr;
    int64_t (*perUpstream)(const UpstreamReport&) = nullptr;
    const resolver::LatencyHistogram& (*upstreamHistogram)(const UpstreamReport&) = nullptr;
};

// In exposition order (the order of /metrics, of the page's rows and of the JSON's keys).
const std::vector<CounterFamily>& counterFamilies();

// "counter", "gauge", "histogram": the # TYPE word.
std::string_view metricTypeName(MetricType type);

}  // namespace dynamo::gateway
