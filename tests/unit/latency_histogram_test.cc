#include "resolver/latency_histogram.h"

#include <gtest/gtest.h>

namespace dynamo::resolver {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kInf = LatencyHistogram::kBounds.size();

std::vector<uint64_t> cumulative(const LatencyHistogram& histogram) {
    std::vector<uint64_t> counts;
    for (size_t i = 0; i < LatencyHistogram::kBucketCount; ++i)
        counts.push_back(histogram.cumulativeCount(i));
    return counts;
}

TEST(LatencyHistogram, TheBoundsAreThePrometheusStyleOnesInOrder) {
    EXPECT_EQ(LatencyHistogram::kBounds,
              (std::array<microseconds, 12>{milliseconds(1), milliseconds(2), milliseconds(5),
                                            milliseconds(10), milliseconds(25), milliseconds(50),
                                            milliseconds(100), milliseconds(250), milliseconds(500),
                                            seconds(1), milliseconds(2500), seconds(5)}));
    EXPECT_EQ(LatencyHistogram::kBucketCount, 13u);
}

TEST(LatencyHistogram, EmptyCountsNothing) {
    const LatencyHistogram histogram;
    EXPECT_EQ(histogram.count(), 0u);
    EXPECT_EQ(histogram.sum(), microseconds(0));
    EXPECT_EQ(cumulative(histogram), std::vector<uint64_t>(13, 0));
}

TEST(LatencyHistogram, AValueOnABoundCountsInThatBucket) {
    // Prometheus buckets are "less than or equal": le="0.001" includes exactly 1 ms.
    LatencyHistogram histogram;
    histogram.observe(milliseconds(1));
    EXPECT_EQ(histogram.cumulativeCount(0), 1u);

    LatencyHistogram justAbove;
    justAbove.observe(microseconds(1001));
    EXPECT_EQ(justAbove.cumulativeCount(0), 0u);
    EXPECT_EQ(justAbove.cumulativeCount(1), 1u);
}

TEST(LatencyHistogram, EveryBoundAndTheValueJustAboveIt) {
    for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
        const microseconds bound = LatencyHistogram::kBounds[i];
        LatencyHistogram onBound;
        onBound.observe(bound);
        EXPECT_EQ(onBound.cumulativeCount(i), 1u) << bound.count();
        if (i > 0) {
            EXPECT_EQ(onBound.cumulativeCount(i - 1), 0u) << bound.count();
        }

        LatencyHistogram above;
        above.observe(bound + microseconds(1));
        EXPECT_EQ(above.cumulativeCount(i), 0u) << bound.count();
        EXPECT_EQ(above.cumulativeCount(i + 1), 1u) << bound.count();
    }
}

TEST(LatencyHistogram, BucketsAreCumulativeAndInfEqualsCount) {
    LatencyHistogram histogram;
    histogram.observe(microseconds(0));    // le 0.001
    histogram.observe(microseconds(700));  // le 0.001
    histogram.observe(milliseconds(3));    // le 0.005
    histogram.observe(milliseconds(40));   // le 0.05
    histogram.observe(milliseconds(40));   // le 0.05
    histogram.observe(seconds(3));         // le 5
    histogram.observe(seconds(30));        // +Inf only
    EXPECT_EQ(cumulative(histogram),
              (std::vector<uint64_t>{2, 2, 3, 3, 3, 5, 5, 5, 5, 5, 5, 6, 7}));
    EXPECT_EQ(histogram.cumulativeCount(kInf), histogram.count());
    EXPECT_EQ(histogram.count(), 7u);
    EXPECT_EQ(histogram.sum(), microseconds(700 + 3000 + 80000 + 3000000 + 30000000));
}

TEST(LatencyHistogram, ANegativeLatencyCountsAsZero) {
    LatencyHistogram histogram;
    histogram.observe(microseconds(-5000));
    EXPECT_EQ(histogram.count(), 1u);
    EXPECT_EQ(histogram.sum(), microseconds(0));
    EXPECT_EQ(histogram.cumulativeCount(0), 1u);
}

TEST(LatencyHistogram, CopiesAreSnapshots) {
    // The status report takes a copy; later observations must not change it.
    LatencyHistogram live;
    live.observe(milliseconds(1));
    const LatencyHistogram snapshot = live;
    live.observe(milliseconds(1));
    EXPECT_EQ(snapshot.count(), 1u);
    EXPECT_EQ(live.count(), 2u);
}

}  // namespace
}  // namespace dynamo::resolver
