#pragma once
// Upstream DNS latency in fixed buckets, for /metrics (a Prometheus histogram) and /status.
//
// Fixed bounds, not configurable: the whole thing is a small value type with no allocation, so
// observe() is cheap on the query path and a copy goes into a gateway::StatusReport as is. The
// bounds span what a home resolver sees, from a LAN upstream (well under 1 ms) to the
// forwarder's timeout (3 s by default) and beyond.
//
// One thread (the event loop's); not thread-safe by design.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace dynamo::resolver {

class LatencyHistogram {
  public:
    // Inclusive upper bounds of the finite buckets (Prometheus "le": a value equal to a bound
    // counts in that bucket). A last, implicit +Inf bucket takes everything.
    static constexpr std::array<std::chrono::microseconds, 12> kBounds{
        std::chrono::milliseconds(1),    std::chrono::milliseconds(2),
        std::chrono::milliseconds(5),    std::chrono::milliseconds(10),
        std::chrono::milliseconds(25),   std::chrono::milliseconds(50),
        std::chrono::milliseconds(100),  std::chrono::milliseconds(250),
        std::chrono::milliseconds(500),  std::chrono::milliseconds(1000),
        std::chrono::milliseconds(2500), std::chrono::milliseconds(5000),
    };
    // Finite buckets plus +Inf.
    static constexpr size_t kBucketCount = kBounds.size() + 1;

    // A negative latency (a caller that subtracted the wrong way round) counts as zero, so it
    // cannot drive the sum below what was observed.
    void observe(std::chrono::microseconds latency);

    // Observations <= kBounds[bucket] (cumulative, as Prometheus exposes them); the last bucket,
    // kBounds.size(), is +Inf and equals count().
    uint64_t cumulativeCount(size_t bucket) const;
    uint64_t count() const { return count_; }
    std::chrono::microseconds sum() const { return sum_; }

  private:
    std::array<uint64_t, kBucketCount> perBucket_{};  // not cumulative: observe() touches one
    uint64_t count_ = 0;
    std::chrono::microseconds sum_{0};
};

}  // namespace dynamo::resolver
