#include "resolver/latency_histogram.h"

#include <algorithm>
#include <cassert>

namespace dynamo::resolver {

void LatencyHistogram::observe(std::chrono::microseconds latency) {
    latency = std::max(latency, std::chrono::microseconds(0));
    // lower_bound: the first bound >= latency, so a value on a bound lands in that bucket ("le").
    const auto bound = std::lower_bound(kBounds.begin(), kBounds.end(), latency);
    ++perBucket_[static_cast<size_t>(bound - kBounds.begin())];
    ++count_;
    sum_ += latency;
}

uint64_t LatencyHistogram::cumulativeCount(size_t bucket) const {
    assert(bucket < kBucketCount);
    uint64_t total = 0;
    for (size_t i = 0; i <= bucket && i < kBucketCount; ++i)
        total += perBucket_[i];
    return total;
}

}  // namespace dynamo::resolver
