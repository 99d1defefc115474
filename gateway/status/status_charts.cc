#include "gateway/status/status_charts.h"

#include <algorithm>
#include <cstdio>

#include "gateway/status/status_report.h"

namespace dynamo::gateway {

namespace {

// The plot area inside the viewBox: room on the left for the count labels, below for times.
constexpr int kLeft = 64;
constexpr int kRight = 8;
constexpr int kTop = 14;
constexpr int kBottom = 30;
constexpr int kPlotWidth = kChartWidth - kLeft - kRight;
constexpr int kPlotHeight = kChartHeight - kTop - kBottom;

constexpr int kTimelineHeight = 60;
constexpr int kTimelineAxis = 22;  // y of the strip
// In viewBox units: a 600-unit chart is about 350 CSS pixels wide on a phone, so 20 units are
// about 12 pixels there.
constexpr std::string_view kFontSize = "20";

// A coordinate with one decimal: enough for a 600-unit viewBox. Callers pass finite values.
std::string coordinate(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", value);
    return text;
}

// "12:34" UTC: the chart spans at most a day, and the full times are in the caption.
std::string clockTime(TimePoint time) {
    return formatRfc3339(time).substr(11, 5);
}

std::string describeStep(std::chrono::seconds step) {
    if (step.count() % 3600 == 0)
        return step.count() == 3600 ? "hour" : std::to_string(step.count() / 3600) + " hours";
    if (step.count() % 60 == 0)
        return step.count() == 60 ? "minute" : std::to_string(step.count() / 60) + " minutes";
    return std::to_string(step.count()) + " seconds";
}

std::vector<uint64_t> columns(const std::vector<uint64_t>& values, size_t perColumn) {
    std::vector<uint64_t> out;
    out.reserve(values.size() / perColumn + 1);
    for (size_t i = 0; i < values.size(); i += perColumn) {
        uint64_t sum = 0;
        for (size_t j = i; j < std::min(values.size(), i + perColumn); ++j)
            sum += values[j];
        out.push_back(sum);
    }
    return out;
}

uint64_t sumOfLast(const std::vector<uint64_t>& values, size_t count) {
    uint64_t sum = 0;
    for (size_t i = values.size() - std::min(values.size(), count); i < values.size(); ++i)
        sum += values[i];
    return sum;
}

}  // namespace

size_t stepsPerColumn(size_t steps) {
    return std::max<size_t>(1, (steps + kChartColumns - 1) / kChartColumns);
}

std::string renderLineChart(const LineChart& chart) {
    const std::string id = escapeHtml(chart.id);
    const size_t steps = chart.lines.empty() ? 0 : chart.lines.front().values.size();
    const size_t perColumn = stepsPerColumn(steps);
    const auto columnStep = chart.step * static_cast<int64_t>(perColumn);
    std::vector<std::vector<uint64_t>> columned;
    uint64_t highest = 0;
    for (const ChartLine& line : chart.lines) {
        columned.push_back(columns(line.values, perColumn));
        for (const uint64_t value : columned.back())
            highest = std::max(highest, value);
    }
    const size_t count = columned.empty() ? 0 : columned.front().size();
    const uint64_t scale = std::max<uint64_t>(highest, 1);
    const TimePoint end = chart.start + chart.step * static_cast<int64_t>(steps);

    std::string title = std::string(chart.title) + ", per " + describeStep(columnStep);
    std::string desc;
    if (steps == 0) {
        desc = "No data yet.";
    } else {
        desc = "From " + formatRfc3339(chart.start) + " to " + formatRfc3339(end) + ": ";
        for (size_t i = 0; i < chart.lines.size(); ++i) {
            desc += (i == 0 ? "" : ", ") + std::string(chart.lines[i].label) + " " +
                    std::to_string(sumOfLast(chart.lines[i].values, steps));
        }
        desc += ".";
    }

    std::string out = "<figure class=\"chart\" id=\"" + id + "\">\n";
    out += "<svg class=\"chart-svg\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " +
           std::to_string(kChartWidth) + " " + std::to_string(kChartHeight) +
           "\" width=\"100%\" role=\"img\" aria-labelledby=\"" + id + "-title " + id +
           "-desc\" font-size=\"" + std::string(kFontSize) + "\">";
    out += "<title id=\"" + id + "-title\">" + escapeHtml(title) + "</title>";
    out += "<desc id=\"" + id + "-desc\">" + escapeHtml(desc) + "</desc>\n";
    // The axes, in the text colour so they follow the page's light or dark scheme.
    const std::string baseline = std::to_string(kTop + kPlotHeight);
    out += "<g class=\"axes\" stroke=\"currentColor\" stroke-opacity=\"0.35\">";
    out += "<line x1=\"" + std::to_string(kLeft) + "\" y1=\"" + baseline + "\" x2=\"" +
           std::to_string(kLeft + kPlotWidth) + "\" y2=\"" + baseline + "\"/>";
    out += "<line x1=\"" + std::to_string(kLeft) + "\" y1=\"" + std::to_string(kTop) + "\" x2=\"" +
           std::to_string(kLeft + kPlotWidth) + "\" y2=\"" + std::to_string(kTop) +
           "\" stroke-dasharray=\"3 3\"/></g>\n";
    out += "<g class=\"labels\" fill=\"currentColor\">";
    out += "<text class=\"y-max\" x=\"" + std::to_string(kLeft - 6) + "\" y=\"" +
           std::to_string(kTop + 7) + "\" text-anchor=\"end\">" + std::to_string(highest) +
           "</text>";
    out += "<text x=\"" + std::to_string(kLeft - 6) + "\" y=\"" + baseline +
           "\" text-anchor=\"end\">0</text>";
    if (steps > 0) {
        const std::string labelY = std::to_string(kChartHeight - 6);
        out += "<text class=\"x-start\" x=\"" + std::to_string(kLeft) + "\" y=\"" + labelY + "\">" +
               clockTime(chart.start) + " UTC</text>";
        out += "<text class=\"x-end\" x=\"" + std::to_string(kLeft + kPlotWidth) + "\" y=\"" +
               labelY + "\" text-anchor=\"end\">" + clockTime(end) + " UTC</text>";
    } else {
        out += "<text class=\"empty\" x=\"" + std::to_string(kLeft + kPlotWidth / 2) + "\" y=\"" +
               std::to_string(kTop + kPlotHeight / 2) +
               "\" text-anchor=\"middle\">no data yet</text>";
    }
    out += "</g>\n";
    for (size_t l = 0; l < chart.lines.size() && count > 0; ++l) {
        const ChartLine& line = chart.lines[l];
        out += "<polyline class=\"line-" + escapeHtml(line.key) + "\" fill=\"none\" stroke=\"" +
               escapeHtml(line.color) + "\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"";
        // Points spread from edge to edge; a single column (the first minute) is drawn as a
        // level line across, as one point would draw nothing.
        const size_t points = std::max<size_t>(count, 2);
        for (size_t i = 0; i < points; ++i) {
            const double x =
                kLeft + kPlotWidth * static_cast<double>(i) / static_cast<double>(points - 1);
            const uint64_t value = columned[l][std::min(i, count - 1)];
            const double y = kTop + kPlotHeight -
                             kPlotHeight * static_cast<double>(value) / static_cast<double>(scale);
            out += (i == 0 ? "" : " ") + coordinate(x) + "," + coordinate(y);
        }
        out += "\"/>\n";
    }
    out += "</svg>\n<figcaption>";
    if (steps == 0) {
        out += "<span class=\"none\">No data yet.</span>";
    } else {
        // A step of zero would divide by zero: no chart has one, but the data is the caller's.
        const size_t hour = static_cast<size_t>(std::chrono::hours(1) /
                                                std::max(chart.step, std::chrono::seconds(1)));
        out +=
            "<span class=\"chart-range\">" +
            describeDuration(std::chrono::duration_cast<std::chrono::seconds>(end - chart.start)) +
            ", " + clockTime(chart.start) + "–" + clockTime(end) + " UTC</span>";
        for (const ChartLine& line : chart.lines) {
            out += "<span class=\"legend legend-" + escapeHtml(line.key) +
                   "\"><span class=\"swatch\" style=\"background:" + escapeHtml(line.color) +
                   "\"></span>" + escapeHtml(line.label) + ": <span class=\"total\">" +
                   std::to_string(sumOfLast(line.values, steps)) +
                   "</span> <small>(last hour <span class=\"last-hour\">" +
                   std::to_string(sumOfLast(line.values, hour)) + "</span>)</small></span>";
        }
    }
    out += "</figcaption>\n</figure>\n";
    return out;
}

std::string renderAddressTimeline(std::string_view id, std::string_view username,
                                  const std::vector<AddressChange>& changes, TimePoint now) {
    if (changes.empty())
        return "";
    const std::string escapedId = escapeHtml(id);
    TimePoint from = std::min(changes.front().time, now - std::chrono::hours(24));
    const auto span = std::chrono::duration_cast<std::chrono::seconds>(now - from).count();
    const double width = kChartWidth - kLeft - kRight;
    std::string out =
        "<svg class=\"timeline-svg\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " +
        std::to_string(kChartWidth) + " " + std::to_string(kTimelineHeight) +
        "\" width=\"100%\" role=\"img\" aria-labelledby=\"" + escapedId + "-title\" font-size=\"" +
        std::string(kFontSize) + "\">";
    out += "<title id=\"" + escapedId + "-title\">" +
           escapeHtml("Address changes of " + std::string(username) + ": " +
                      std::to_string(changes.size()) + " since " + formatRfc3339(from)) +
           "</title>\n";
    const std::string axis = std::to_string(kTimelineAxis);
    out += "<line stroke=\"currentColor\" stroke-opacity=\"0.35\" x1=\"" + std::to_string(kLeft) +
           "\" y1=\"" + axis + "\" x2=\"" + std::to_string(kChartWidth - kRight) + "\" y2=\"" +
           axis + "\"/>\n";
    out += "<g fill=\"currentColor\"><text x=\"" + std::to_string(kLeft) + "\" y=\"" +
           std::to_string(kTimelineHeight - 6) + "\">" +
           escapeHtml(formatRfc3339(from).substr(0, 10)) + "</text><text x=\"" +
           std::to_string(kChartWidth - kRight) + "\" y=\"" + std::to_string(kTimelineHeight - 6) +
           "\" text-anchor=\"end\">now</text></g>\n";
    for (const AddressChange& change : changes) {
        // A change stamped after `now` (the clock stepped back) sits at the right edge.
        const auto offset = std::clamp<int64_t>(
            std::chrono::duration_cast<std::chrono::seconds>(change.time - from).count(), 0, span);
        const double x = kLeft + width * static_cast<double>(offset) /
                                     static_cast<double>(std::max<int64_t>(span, 1));
        const std::string to =
            change.address ? change.address->toString() : "this network's public address";
        out += "<circle class=\"change-" + std::string(toString(change.origin)) + "\" cx=\"" +
               coordinate(x) + "\" cy=\"" + axis + "\" r=\"5\" fill=\"" +
               (change.origin == UpdateOrigin::Device ? "#1f77b4" : "#d62728") + "\"><title>" +
               escapeHtml(formatRfc3339(change.time) + ": " + to + " (" +
                          std::string(toString(change.origin)) + ")") +
               "</title></circle>\n";
    }
    out += "</svg>\n";
    return out;
}

}  // namespace dynamo::gateway
