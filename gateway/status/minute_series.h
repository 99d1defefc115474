#pragma once
// Per-minute counts over the last 24 hours (docs/operations.md#activity-series): what the
// status page draws as charts and /status.json carries as `series`. A fixed ring of kMinutes
// buckets, filled by sampling the daemon's running totals (QueryHandler::stats(),
// UpdateEndpoint::stats()) once a minute and whenever a page is rendered: each sample adds what
// the totals grew by since the previous one to the bucket of the sample's minute.
//
// Kept in memory only: a restart starts an empty ring (the totals themselves start at zero).
//
// Minutes are wall-clock minutes (Unix time / 60), so the JSON's start time is a real time:
// - a sample some minutes after the previous one (the process was stopped with SIGSTOP, the
//   machine was busy, the clock stepped forward) leaves the minutes between at zero, and what
//   the totals grew by goes to the sample's minute; a gap of more than kMinutes empties the ring;
// - a clock stepped back by at most kMaxBackStep keeps counting into the newest minute until
//   the clock reaches it again; stepped back further, the ring starts again at the new time (its
//   minutes would otherwise claim times that have not come yet).
//
// Pure: the caller gives the time. One thread, no locks.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "gateway/http/update_stats.h"
#include "gateway/updates/state_store.h"
#include "resolver/dns_stats.h"

namespace dynamo::gateway {

// What is counted per minute, in this order everywhere (the ring, the JSON, the charts).
enum class SeriesKind : size_t {
    kIntercepted,     // DNS queries for an intercepted name, answered with the gateway
    kCache,           // answered from the cache
    kForwarded,       // sent to an upstream
    kFailed,          // answered SERVFAIL
    kUpdateGood,      // updates answered good (accepted and sent, or confirmed)
    kUpdateNoChg,     // updates answered nochg
    kUpdateQueued,    // updates answered good but queued for the rate window
    kUpdateFailed,    // updates answered 911
    kUpdateRejected,  // updates answered badauth
};
inline constexpr size_t kSeriesKinds = 9;

struct SeriesInfo {
    std::string_view jsonGroup;  // "queries", "updates"
    std::string_view jsonKey;    // "intercepted", "nochg"...
    std::string_view label;      // for the page
};
const SeriesInfo& seriesInfo(SeriesKind kind);

// The running totals a sample reads, by SeriesKind.
using SeriesTotals = std::array<uint64_t, kSeriesKinds>;
SeriesTotals seriesTotals(const resolver::DnsStats& dns, const UpdateStats& updates);

// What the renderers get: one value per minute from `start`, oldest first, `step` apart.
struct SeriesView {
    TimePoint start;
    std::chrono::seconds step{60};
    std::array<std::vector<uint64_t>, kSeriesKinds> values;  // all the same length
    size_t minutes() const { return values[0].size(); }
};

class MinuteSeries {
  public:
    static constexpr size_t kMinutes = 24 * 60;
    static constexpr int64_t kMaxBackStep = 5;  // minutes

    // Adds what `totals` grew by since the previous sample (the first sample only sets the
    // baseline; a total that went down, e.g. a counter reset, counts from zero).
    void sample(TimePoint now, const SeriesTotals& totals);

    // The minutes from the first sample (at most kMinutes ago) to the newest, oldest first;
    // empty before the first sample.
    SeriesView view() const;

  private:
    using Bucket = std::array<uint32_t, kSeriesKinds>;
    static size_t slot(int64_t minute) {
        constexpr auto n = static_cast<int64_t>(kMinutes);
        return static_cast<size_t>(((minute % n) + n) % n);
    }
    Bucket& bucket(int64_t minute) { return ring_[slot(minute)]; }

    std::array<Bucket, kMinutes> ring_{};
    std::optional<int64_t> first_;  // the oldest minute the ring holds
    int64_t newest_ = 0;            // the minute counts go to
    SeriesTotals last_{};
};

}  // namespace dynamo::gateway
