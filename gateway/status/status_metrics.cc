// /metrics: Prometheus text exposition format 0.0.4, every family of the counter table
// (status_counters.cc, which also says what they mean) in its order.

#include <string>
#include <utility>

#include "gateway/status/status_counters.h"
#include "gateway/status/status_report.h"

namespace dynamo::gateway {

namespace {

class MetricsWriter {
  public:
    // One family header. The help texts are constants without backslashes or newlines, so
    // they need no escaping.
    void family(const CounterFamily& family) {
        out_ += "# HELP ";
        out_ += kMetricPrefix;
        out_ += family.name;
        out_ += ' ';
        out_ += family.help;
        out_ += "\n# TYPE ";
        out_ += kMetricPrefix;
        out_ += family.name;
        out_ += ' ';
        out_ += metricTypeName(family.type);
        out_ += '\n';
    }
    // `labels` is empty or `key="escaped value",...` already.
    void sample(std::string_view name, std::string_view labels, std::string_view value) {
        out_ += kMetricPrefix;
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

    std::string finish() { return std::move(out_); }

  private:
    std::string out_;
};

std::string label(std::string_view key, std::string_view value) {
    if (key.empty())
        return "";
    return std::string(key) + "=\"" + escapeLabelValue(value) + "\"";
}

// `labels`: "" or `key="escaped value"`, put before `le` on every sample.
void writeHistogram(MetricsWriter& metrics, std::string_view name,
                    const resolver::LatencyHistogram& latency, const std::string& labels = "") {
    const std::string base(name);
    const std::string prefix = labels.empty() ? "" : labels + ",";
    for (size_t i = 0; i < resolver::LatencyHistogram::kBucketCount; ++i) {
        const std::string bound = i < resolver::LatencyHistogram::kBounds.size()
                                      ? formatSeconds(resolver::LatencyHistogram::kBounds[i])
                                      : "+Inf";
        metrics.sample(base + "_bucket", prefix + label("le", bound),
                       std::to_string(latency.cumulativeCount(i)));
    }
    metrics.sample(base + "_sum", labels, formatSeconds(latency.sum()));
    metrics.sample(base + "_count", labels, std::to_string(latency.count()));
}

void writeFamily(MetricsWriter& metrics, const CounterFamily& family, const StatusReport& report) {
    metrics.family(family);
    switch (family.shape) {
        case Shape::kSamples:
            for (const CounterSample& sample : family.samples) {
                metrics.sample(family.name, label(family.labelKey, sample.labelValue),
                               std::to_string(sample.value(report)));
            }
            break;
        case Shape::kHistogram:
            writeHistogram(metrics, family.name, family.histogram(report));
            break;
        case Shape::kPerAccount:
            for (const auto& account : report.accounts) {
                if (const auto value = family.perAccount(account)) {
                    metrics.sample(family.name, label(family.labelKey, account.username),
                                   std::to_string(*value));
                }
            }
            break;
        case Shape::kPerUpstream:
            for (const UpstreamReport& upstream : report.dns.upstreams) {
                metrics.sample(family.name, label(family.labelKey, upstream.address),
                               std::to_string(family.perUpstream(upstream)));
            }
            break;
        case Shape::kPerUpstreamHistogram:
            for (const UpstreamReport& upstream : report.dns.upstreams) {
                writeHistogram(metrics, family.name, family.upstreamHistogram(upstream),
                               label(family.labelKey, upstream.address));
            }
            break;
        case Shape::kBuildInfo:
            metrics.sample(family.name, label(family.labelKey, report.version), "1");
            break;
    }
}

}  // namespace

std::string renderMetrics(const StatusReport& report) {
    MetricsWriter metrics;
    for (const CounterFamily& family : counterFamilies())
        writeFamily(metrics, family, report);
    return metrics.finish();
}

}  // namespace dynamo::gateway
