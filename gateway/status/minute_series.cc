#include "gateway/status/minute_series.h"

#include <algorithm>
#include <limits>

namespace dynamo::gateway {

namespace {

constexpr std::array<SeriesInfo, kSeriesKinds> kInfo = {{
    {"queries", "intercepted", "Intercepted"},
    {"queries", "cache", "From the cache"},
    {"queries", "forwarded", "Forwarded"},
    {"queries", "failed", "Failed (SERVFAIL)"},
    {"updates", "good", "good"},
    {"updates", "nochg", "nochg"},
    {"updates", "queued", "Queued"},
    {"updates", "failed", "Failed (911)"},
    {"updates", "rejected", "Rejected (badauth)"},
}};

int64_t minuteOf(TimePoint time) {
    return std::chrono::floor<std::chrono::minutes>(time.time_since_epoch()).count();
}

}  // namespace

const SeriesInfo& seriesInfo(SeriesKind kind) {
    return kInfo[static_cast<size_t>(kind)];
}

SeriesTotals seriesTotals(const resolver::DnsStats& dns, const UpdateStats& updates) {
    return {dns.intercepted,  dns.cacheHits,  dns.forwarded,  dns.servFail,   updates.good,
            updates.noChange, updates.queued, updates.failed, updates.badAuth};
}

void MinuteSeries::sample(TimePoint now, const SeriesTotals& totals) {
    const int64_t minute = minuteOf(now);
    if (!first_) {
        // The baseline: what was counted before the first sample has no minute.
        first_ = minute;
        newest_ = minute;
        last_ = totals;
        return;
    }
    if (minute < newest_ - kMaxBackStep) {
        // A clock stepped far back: start again at `minute`.
        ring_ = {};
        first_ = minute;
        newest_ = minute;
    } else if (minute > newest_) {
        // The minutes between the previous sample and this one saw no sample: nothing counted
        // in them (their share of the growth goes to this minute).
        const int64_t gap = minute - newest_;
        const int64_t clear = std::min<int64_t>(gap, static_cast<int64_t>(kMinutes));
        for (int64_t m = minute - clear + 1; m <= minute; ++m)
            bucket(m) = {};
        newest_ = minute;
        *first_ = std::max(*first_, minute - static_cast<int64_t>(kMinutes) + 1);
    }
    // minute < newest_ within kMaxBackStep: counts go to the newest minute.
    Bucket& target = bucket(newest_);
    for (size_t i = 0; i < kSeriesKinds; ++i) {
        const uint64_t grown = totals[i] >= last_[i] ? totals[i] - last_[i] : totals[i];
        const uint64_t sum = uint64_t{target[i]} + grown;
        target[i] =
            static_cast<uint32_t>(std::min<uint64_t>(sum, std::numeric_limits<uint32_t>::max()));
    }
    last_ = totals;
}

SeriesView MinuteSeries::view() const {
    SeriesView view;
    if (!first_)
        return view;
    view.start = TimePoint(std::chrono::minutes(*first_));
    const auto count = static_cast<size_t>(newest_ - *first_ + 1);
    for (auto& values : view.values)
        values.reserve(count);
    for (int64_t m = *first_; m <= newest_; ++m) {
        const Bucket& b = ring_[slot(m)];
        for (size_t i = 0; i < kSeriesKinds; ++i)
            view.values[i].push_back(b[i]);
    }
    return view;
}

}  // namespace dynamo::gateway
