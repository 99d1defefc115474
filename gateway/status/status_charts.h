#pragma once
// The status page's charts as inline SVG (README "The status page"): no script, no external
// resource, scaled by a viewBox to the page's width (a phone's included), each with a <title>
// and a <desc>, and the same numbers beside it in text for a reader that does not see it.
//
// Pure: the data and "now" come from the caller. Every coordinate is computed from integer
// counts with a divisor of at least one, so no NaN or infinity reaches the output.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/updates/address_history.h"

namespace dynamo::gateway {

// The viewBox of a line chart, in SVG user units.
inline constexpr int kChartWidth = 600;
inline constexpr int kChartHeight = 180;
// At most this many points per line: 24 h of minutes are summed ten at a time.
inline constexpr size_t kChartColumns = 144;

struct ChartLine {
    std::string_view key{};          // a class name: "line-<key>"
    std::string_view label{};        // a trusted constant
    std::string_view color{};        // a CSS colour, a trusted constant
    std::vector<uint64_t> values{};  // one per step, oldest first
};

struct LineChart {
    std::string_view id{};     // the figure's id; its title and desc ids derive from it
    std::string_view title{};  // "DNS queries"
    TimePoint start{};         // of values[0]
    std::chrono::seconds step{60};
    std::vector<ChartLine> lines{};  // values of equal length
};

// How many steps go into one point for `steps` values: 1 up to kChartColumns values, then
// enough that at most kChartColumns points remain.
size_t stepsPerColumn(size_t steps);

// A <figure> holding an <svg> (one polyline per line, the count of a column as its height, the
// highest column labelled) and a <figcaption> listing each line's total over the whole chart
// and over its last hour. An empty chart says so in the SVG and the caption.
std::string renderLineChart(const LineChart& chart);

// An account's address changes as a strip over time, from the oldest change (or 24 hours
// before `now`, whichever is earlier) to `now`: one marker per change with a <title> saying
// when, to what and who asked. "" when there are no changes.
std::string renderAddressTimeline(std::string_view id, std::string_view username,
                                  const std::vector<AddressChange>& changes, TimePoint now);

}  // namespace dynamo::gateway
