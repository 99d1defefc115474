// The address history (gateway/updates/address_history.h), the per-minute series
// (gateway/status/minute_series.h) and the charts that draw them (gateway/status/status_charts.h).

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gateway/status/minute_series.h"
#include "gateway/status/status_charts.h"
#include "gateway/status/status_report.h"
#include "gateway/updates/address_history.h"
#include "temp_dir.h"

namespace dynamo::gateway {
namespace {

using namespace std::chrono;
using testing::HasSubstr;
using testing::Not;

// 2024-05-01 12:00:00 UTC, a minute boundary.
const TimePoint kT0 = sys_days{year{2024} / May / 1} + hours(12);

net::IpAddress ip(std::string_view text) {
    return *net::IpAddress::parse(text);
}

SeriesTotals totals(uint64_t intercepted, uint64_t good = 0) {
    SeriesTotals t{};
    t[static_cast<size_t>(SeriesKind::kIntercepted)] = intercepted;
    t[static_cast<size_t>(SeriesKind::kUpdateGood)] = good;
    return t;
}

const std::vector<uint64_t>& intercepted(const SeriesView& view) {
    return view.values[static_cast<size_t>(SeriesKind::kIntercepted)];
}

// ---- MinuteSeries ---------------------------------------------------------------------------

TEST(MinuteSeries, EmptyBeforeTheFirstSample) {
    MinuteSeries series;
    EXPECT_EQ(series.view().minutes(), 0u);
}

TEST(MinuteSeries, FirstSampleIsTheBaselineAndGrowthGoesToItsMinute) {
    MinuteSeries series;
    series.sample(kT0 + seconds(5), totals(40, 2));  // counted before: no minute of its own
    series.sample(kT0 + seconds(30), totals(43, 2));
    series.sample(kT0 + seconds(59), totals(44, 3));
    series.sample(kT0 + seconds(61), totals(50, 3));
    const SeriesView view = series.view();
    EXPECT_EQ(view.start, kT0);
    EXPECT_EQ(view.step, seconds(60));
    EXPECT_EQ(intercepted(view), (std::vector<uint64_t>{4, 6}));
    EXPECT_EQ(view.values[static_cast<size_t>(SeriesKind::kUpdateGood)],
              (std::vector<uint64_t>{1, 0}));
}

TEST(MinuteSeries, AGapOfMinutesWithoutSamplesLeavesZerosAndTheGrowthInTheNewMinute) {
    // The process was stopped (SIGSTOP) or the clock stepped forward for five minutes.
    MinuteSeries series;
    series.sample(kT0, totals(0));
    series.sample(kT0 + seconds(10), totals(2));
    series.sample(kT0 + minutes(5) + seconds(3), totals(9));
    EXPECT_EQ(intercepted(series.view()), (std::vector<uint64_t>{2, 0, 0, 0, 0, 7}));
}

TEST(MinuteSeries, KeepsTheLastDayOnly) {
    MinuteSeries series;
    series.sample(kT0, totals(0));
    for (uint64_t m = 0; m < MinuteSeries::kMinutes + 60; ++m)
        series.sample(kT0 + minutes(m) + seconds(30), totals(m + 1));
    const SeriesView view = series.view();
    ASSERT_EQ(view.minutes(), MinuteSeries::kMinutes);
    EXPECT_EQ(view.start, kT0 + minutes(60));
    for (const uint64_t value : intercepted(view))
        EXPECT_EQ(value, 1u);
}

TEST(MinuteSeries, AGapLongerThanADayEmptiesTheRing) {
    MinuteSeries series;
    series.sample(kT0, totals(0));
    series.sample(kT0 + seconds(1), totals(100));
    series.sample(kT0 + hours(30), totals(103));
    const SeriesView view = series.view();
    ASSERT_EQ(view.minutes(), MinuteSeries::kMinutes);
    EXPECT_EQ(view.start, kT0 + hours(30) - minutes(MinuteSeries::kMinutes - 1));
    uint64_t sum = 0;
    for (const uint64_t value : intercepted(view))
        sum += value;
    EXPECT_EQ(sum, 3u);
    EXPECT_EQ(intercepted(view).back(), 3u);
}

TEST(MinuteSeries, ASmallStepBackCountsIntoTheNewestMinute) {
    MinuteSeries series;
    series.sample(kT0, totals(0));
    series.sample(kT0 + minutes(3), totals(1));
    series.sample(kT0 + minutes(1), totals(4));  // stepped back two minutes
    series.sample(kT0 + minutes(4), totals(5));  // and on again
    EXPECT_EQ(intercepted(series.view()), (std::vector<uint64_t>{0, 0, 0, 4, 1}));
}

TEST(MinuteSeries, ALargeStepBackStartsAgain) {
    MinuteSeries series;
    series.sample(kT0, totals(0));
    series.sample(kT0 + hours(2), totals(5));
    series.sample(kT0 + minutes(10), totals(7));
    const SeriesView view = series.view();
    EXPECT_EQ(view.start, kT0 + minutes(10));
    EXPECT_EQ(intercepted(view), (std::vector<uint64_t>{2}));
}

TEST(MinuteSeries, ATotalThatWentDownCountsFromZero) {
    MinuteSeries series;
    series.sample(kT0, totals(50));
    series.sample(kT0 + seconds(1), totals(3));
    EXPECT_EQ(intercepted(series.view()), (std::vector<uint64_t>{3}));
}

TEST(MinuteSeries, TotalsComeFromTheCountersTheyName) {
    resolver::DnsStats dns;
    dns.intercepted = 1;
    dns.cacheHits = 2;
    dns.forwarded = 3;
    dns.servFail = 4;
    UpdateStats updates;
    updates.good = 5;
    updates.noChange = 6;
    updates.queued = 7;
    updates.failed = 8;
    updates.badAuth = 9;
    EXPECT_EQ(seriesTotals(dns, updates), (SeriesTotals{1, 2, 3, 4, 5, 6, 7, 8, 9}));
    EXPECT_EQ(seriesInfo(SeriesKind::kUpdateRejected).jsonKey, "rejected");
}

// ---- AddressHistory -------------------------------------------------------------------------

AddressHistory sampleHistory() {
    AddressHistory history;
    history.recordAnswer("home", {kT0, "UP,OK", ip("203.0.113.7"), UpdateOrigin::Device});
    history.recordChange("home", {kT0, ip("203.0.113.7"), std::nullopt, UpdateOrigin::Device});
    history.recordAnswer("home", {kT0 + minutes(5), "TF", std::nullopt, UpdateOrigin::SelfUpdate});
    history.recordAnswer("cabin",
                         {kT0 + minutes(6), "timeout", ip("2001:db8::1"), UpdateOrigin::Device});
    history.recordChange(
        "cabin", {kT0 + minutes(7), std::nullopt, ip("198.51.100.1"), UpdateOrigin::SelfUpdate});
    return history;
}

TEST(AddressHistory, KeepsTheNewestEntriesOfEachKind) {
    AddressHistory history;
    for (int i = 0; i < 250; ++i) {
        history.recordAnswer("home", {kT0 + seconds(i), "NC", std::nullopt, UpdateOrigin::Device});
    }
    history.recordChange("home", {kT0, ip("192.0.2.1"), std::nullopt, UpdateOrigin::Device});
    const AccountHistory* home = history.find("home");
    ASSERT_NE(home, nullptr);
    ASSERT_EQ(home->answers.size(), AddressHistory::kMaxEntries);
    EXPECT_EQ(home->answers.front().time, kT0 + seconds(50));
    EXPECT_EQ(home->answers.back().time, kT0 + seconds(249));
    EXPECT_EQ(home->changes.size(), 1u);
    EXPECT_EQ(history.find("cabin"), nullptr);
    EXPECT_TRUE(history.dirty());
}

TEST(AddressHistory, TextRoundTrip) {
    const AddressHistory history = sampleHistory();
    AddressHistory loaded;
    std::string problem;
    ASSERT_TRUE(loaded.fromText(history.toText(), &problem)) << problem;
    EXPECT_EQ(loaded.accounts(), history.accounts());
    EXPECT_FALSE(loaded.dirty());
}

TEST(AddressHistory, DamagedTextIsRefusedAndLeavesItEmpty) {
    const std::string good = sampleHistory().toText();
    const auto replaced = [&](std::string_view from, std::string_view to) {
        std::string text = good;
        const size_t at = text.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        return text.replace(at, from.size(), to);
    };
    for (const std::string& text :
         {std::string("not: [yaml"), std::string("- a list"), std::string("version: 2\n"),
          replaced("203.0.113.7", "203.0.113.999"), replaced("self-update", "robot"),
          replaced("version: 1", "version: x"), replaced("username: home", "username: [1]")}) {
        AddressHistory loaded;
        std::string problem;
        EXPECT_FALSE(loaded.fromText(text, &problem)) << text;
        EXPECT_FALSE(problem.empty());
        EXPECT_TRUE(loaded.accounts().empty());
    }
    // More entries than it keeps: not a file it wrote.
    std::string many = "version: 1\naccounts:\n  - username: a\n    changes: []\n    answers:\n";
    for (size_t i = 0; i <= AddressHistory::kMaxEntries; ++i)
        many += "      - {time: 1, result: NC, address: ~, source: device}\n";
    AddressHistory loaded;
    std::string problem;
    EXPECT_FALSE(loaded.fromText(many, &problem));
    EXPECT_THAT(problem, HasSubstr("more than"));
}

class AddressHistoryFile : public testing::Test {
  protected:
    std::string path() const { return dir_ + "/history.yaml"; }

    test::TempDir temp_{"history"};
    const std::string dir_ = temp_.path();
};

TEST_F(AddressHistoryFile, SavedAndLoadedAgain) {
    AddressHistory history = sampleHistory();
    std::string error;
    ASSERT_TRUE(history.save(dir_, &error)) << error;
    EXPECT_FALSE(history.dirty());
    EXPECT_EQ(std::filesystem::status(path()).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    AddressHistory loaded;
    loaded.load(dir_, kT0);
    EXPECT_EQ(loaded.accounts(), history.accounts());
}

TEST_F(AddressHistoryFile, MissingIsEmpty) {
    AddressHistory loaded;
    loaded.load(dir_, kT0);
    EXPECT_TRUE(loaded.accounts().empty());
}

TEST_F(AddressHistoryFile, DamagedIsMovedAside) {
    std::ofstream(path()) << "version: 1\naccounts: {broken";
    AddressHistory loaded;
    loaded.load(dir_, kT0);
    EXPECT_TRUE(loaded.accounts().empty());
    EXPECT_FALSE(std::filesystem::exists(path()));
    const std::string aside =
        path() + ".corrupt-" +
        std::to_string(duration_cast<seconds>(kT0.time_since_epoch()).count());
    EXPECT_TRUE(std::filesystem::exists(aside));
}

// ---- Charts ---------------------------------------------------------------------------------

// Every tag closed in order, attributes' quotes paired, no stray '<' or '&' that is not a
// reference: what an XML parser needs of the SVG (and the HTML around it) to read it.
::testing::AssertionResult wellFormed(const std::string& text) {
    std::vector<std::string> open;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '&') {
            const size_t end = text.find(';', i);
            if (end == std::string::npos || end - i > 8)
                return ::testing::AssertionFailure() << "bare & at " << i;
            continue;
        }
        if (text[i] != '<')
            continue;
        const size_t end = text.find('>', i);
        if (end == std::string::npos)
            return ::testing::AssertionFailure() << "unclosed tag at " << i;
        const std::string tag = text.substr(i + 1, end - i - 1);
        if (tag.find('<') != std::string::npos)
            return ::testing::AssertionFailure() << "'<' inside a tag at " << i;
        if (std::count(tag.begin(), tag.end(), '"') % 2 != 0)
            return ::testing::AssertionFailure() << "unpaired quote in <" << tag << ">";
        if (tag.starts_with("/")) {
            const std::string name = tag.substr(1);
            if (open.empty() || open.back() != name)
                return ::testing::AssertionFailure()
                       << "</" << name << "> closes <" << (open.empty() ? "" : open.back()) << ">";
            open.pop_back();
        } else if (!tag.ends_with("/")) {
            open.push_back(tag.substr(0, tag.find_first_of(" \n")));
        }
        i = end;
    }
    if (!open.empty())
        return ::testing::AssertionFailure() << "<" << open.back() << "> never closed";
    return ::testing::AssertionSuccess();
}

bool hasNonNumber(const std::string& text) {
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    return lower.find("nan") != std::string::npos || lower.find("inf") != std::string::npos;
}

// The points attribute of the polyline of class line-<key>.
std::vector<std::string> pointsOf(const std::string& svg, std::string_view key) {
    const size_t line = svg.find("class=\"line-" + std::string(key) + "\"");
    if (line == std::string::npos)
        return {};
    const size_t start = svg.find("points=\"", line) + 8;
    const size_t end = svg.find('"', start);
    std::vector<std::string> points;
    std::istringstream in(svg.substr(start, end - start));
    for (std::string point; in >> point;)
        points.push_back(point);
    return points;
}

TEST(StatusCharts, ColumnsOfADay) {
    EXPECT_EQ(stepsPerColumn(0), 1u);
    EXPECT_EQ(stepsPerColumn(kChartColumns), 1u);
    EXPECT_EQ(stepsPerColumn(kChartColumns + 1), 2u);
    EXPECT_EQ(stepsPerColumn(MinuteSeries::kMinutes), 10u);
}

TEST(StatusCharts, PointsAreScaledToTheHighestColumn) {
    LineChart chart{.id = "c", .title = "DNS queries", .start = kT0, .step = seconds(60)};
    chart.lines.push_back({"a", "A", "#000", {0, 5, 10}});
    chart.lines.push_back({"b", "B", "#111", {10, 10, 0}});
    const std::string svg = renderLineChart(chart);
    EXPECT_TRUE(wellFormed(svg));
    EXPECT_FALSE(hasNonNumber(svg));
    // x from 64 to 592 (the plot's edges), y from 150 (zero) to 14 (the highest, 10).
    EXPECT_EQ(pointsOf(svg, "a"),
              (std::vector<std::string>{"64.0,150.0", "328.0,82.0", "592.0,14.0"}));
    EXPECT_EQ(pointsOf(svg, "b"),
              (std::vector<std::string>{"64.0,14.0", "328.0,14.0", "592.0,150.0"}));
    EXPECT_THAT(svg, HasSubstr("viewBox=\"0 0 600 180\""));
    EXPECT_THAT(svg, HasSubstr("width=\"100%\""));
    EXPECT_THAT(svg, HasSubstr("<title id=\"c-title\">DNS queries, per minute</title>"));
    EXPECT_THAT(svg, HasSubstr("class=\"y-max\" x=\"58\" y=\"21\" text-anchor=\"end\">10<"));
    // The numbers in text too: each line's total, in the caption and the description.
    EXPECT_THAT(svg, HasSubstr("A: <span class=\"total\">15</span>"));
    EXPECT_THAT(svg, HasSubstr("B: <span class=\"total\">20</span>"));
    EXPECT_THAT(svg, HasSubstr("A 15, B 20."));
    EXPECT_THAT(svg, HasSubstr(">12:00 UTC<"));
    EXPECT_THAT(svg, HasSubstr(">12:03 UTC<"));
    EXPECT_THAT(svg, HasSubstr("3 minutes, 12:00–12:03 UTC"));
}

TEST(StatusCharts, ADayIsSummedIntoColumns) {
    LineChart chart{.id = "day", .title = "DNS queries", .start = kT0, .step = seconds(60)};
    chart.lines.push_back({"a", "A", "#000", std::vector<uint64_t>(MinuteSeries::kMinutes, 1)});
    chart.lines[0].values.back() = 11;  // the last column: 9 + 11 = 20
    const std::string svg = renderLineChart(chart);
    const auto points = pointsOf(svg, "a");
    ASSERT_EQ(points.size(), kChartColumns);
    EXPECT_EQ(points.front(), "64.0,82.0");  // 10 of 20
    EXPECT_EQ(points.back(), "592.0,14.0");
    EXPECT_THAT(svg, HasSubstr("per 10 minutes"));
    EXPECT_THAT(svg, HasSubstr("(last hour <span class=\"last-hour\">70</span>)"));
    EXPECT_TRUE(wellFormed(svg));
}

TEST(StatusCharts, OneColumnAndAllZerosAreDrawnWithoutDividingByZero) {
    LineChart chart{.id = "z", .title = "Updates", .start = kT0, .step = seconds(60)};
    chart.lines.push_back({"a", "A", "#000", {0}});
    const std::string svg = renderLineChart(chart);
    // A level line across: one point would draw nothing.
    EXPECT_EQ(pointsOf(svg, "a"), (std::vector<std::string>{"64.0,150.0", "592.0,150.0"}));
    EXPECT_FALSE(hasNonNumber(svg));
    EXPECT_TRUE(wellFormed(svg));
}

TEST(StatusCharts, AnEmptySeriesSaysSo) {
    LineChart chart{.id = "e", .title = "DNS queries", .start = {}, .step = seconds(60)};
    chart.lines.push_back({"a", "A", "#000", {}});
    const std::string svg = renderLineChart(chart);
    EXPECT_TRUE(wellFormed(svg));
    EXPECT_FALSE(hasNonNumber(svg));
    EXPECT_THAT(svg, HasSubstr("no data yet"));
    EXPECT_THAT(svg, HasSubstr("<title"));
    EXPECT_THAT(svg, Not(HasSubstr("<polyline")));
}

TEST(StatusCharts, TimelineMarksEachChange) {
    EXPECT_EQ(renderAddressTimeline("t", "home", {}, kT0), "");
    const std::vector<AddressChange> changes = {
        {kT0 - hours(24), ip("192.0.2.1"), std::nullopt, UpdateOrigin::Device},
        {kT0 - hours(12), std::nullopt, ip("192.0.2.1"), UpdateOrigin::SelfUpdate},
        {kT0 + hours(1), ip("192.0.2.3"), std::nullopt, UpdateOrigin::Device},  // clock stepped
    };
    const std::string svg = renderAddressTimeline("t<", "home & away", changes, kT0);
    EXPECT_TRUE(wellFormed(svg));
    EXPECT_FALSE(hasNonNumber(svg));
    EXPECT_THAT(svg, HasSubstr("id=\"t&lt;-title\">Address changes of home &amp; away: 3"));
    EXPECT_THAT(svg, HasSubstr("cx=\"64.0\""));
    EXPECT_THAT(svg, HasSubstr("cx=\"328.0\""));
    EXPECT_THAT(svg, HasSubstr("cx=\"592.0\""));
    EXPECT_THAT(svg, HasSubstr("2024-04-30T12:00:00Z: 192.0.2.1 (device)"));
    EXPECT_THAT(svg, HasSubstr("this network&#39;s public address (self-update)"));
}

// ---- The page and the JSON ------------------------------------------------------------------

StatusReport reportWithHistory() {
    StatusReport report;
    report.version = "1";
    report.startedAt = kT0 - hours(1);
    report.now = kT0 + seconds(30);
    const AddressHistory history = sampleHistory();
    report.history.push_back({"home", *history.find("home")});
    report.history.push_back({"idle", {}});
    MinuteSeries series;
    series.sample(kT0 - minutes(1), totals(0));
    series.sample(kT0 + seconds(20), totals(7, 1));
    report.series = series.view();
    return report;
}

TEST(StatusHistory, JsonHasTheHistoryAndTheSeries) {
    const std::string json = renderStatusJson(reportWithHistory());
    EXPECT_THAT(json, HasSubstr("\"history\": [\n    {\n      \"username\": \"home\","));
    EXPECT_THAT(json, HasSubstr("\"time\": \"2024-05-01T12:00:00Z\",\n          \"address\": "
                                "\"203.0.113.7\",\n          \"previous\": null,\n          "
                                "\"source\": \"device\""));
    EXPECT_THAT(json, HasSubstr("\"result\": \"TF\",\n          \"address\": null,\n          "
                                "\"source\": \"self-update\""));
    EXPECT_THAT(json, HasSubstr("\"username\": \"idle\",\n      \"changes\": [],\n      "
                                "\"answers\": []"));
    EXPECT_THAT(json, HasSubstr("\"series\": {\n    \"start\": \"2024-05-01T11:59:00Z\",\n    "
                                "\"step_seconds\": 60,\n    \"minutes\": 2,\n    \"queries\": {\n"
                                "      \"intercepted\": [0,7],"));
    EXPECT_THAT(json, HasSubstr("\"good\": [0,1],"));
    EXPECT_THAT(json, HasSubstr("\"rejected\": [0,0]\n    }\n  },"));
}

TEST(StatusHistory, JsonSeriesBeforeAnySample) {
    StatusReport report;
    const std::string json = renderStatusJson(report);
    EXPECT_THAT(json,
                HasSubstr("\"start\": null,\n    \"step_seconds\": 60,\n    \"minutes\": 0,"));
    EXPECT_THAT(json, HasSubstr("\"intercepted\": [],"));
}

TEST(StatusHistory, PageDrawsTheChartsAndListsTheChanges) {
    const std::string html = renderStatusHtml(reportWithHistory());
    EXPECT_THAT(html, HasSubstr("<figure class=\"chart\" id=\"chart-queries\">"));
    EXPECT_THAT(html, HasSubstr("<figure class=\"chart\" id=\"chart-updates\">"));
    EXPECT_THAT(html, HasSubstr("<section class=\"account history\" id=\"history-home\">"));
    EXPECT_THAT(html, HasSubstr("<svg class=\"timeline-svg\""));
    EXPECT_THAT(html, HasSubstr(": <code>203.0.113.7</code>, from <span class=\"source\">device"));
    EXPECT_THAT(html, HasSubstr("<code class=\"result\">TF</code> for this network's public "
                                "address, from <span class=\"source\">self-update"));
    EXPECT_THAT(html, Not(HasSubstr("id=\"history-idle\"")));
    EXPECT_THAT(html, HasSubstr("Intercepted: <span class=\"total\">7</span>"));
    // The part this adds (the page's header has HTML's void elements, <br>, <meta>).
    const size_t from = html.find("<h2>Last 24 hours</h2>");
    const size_t to = html.find("<h2>Updates</h2>");
    ASSERT_NE(from, std::string::npos);
    ASSERT_NE(to, std::string::npos);
    EXPECT_TRUE(wellFormed(html.substr(from, to - from)));
    EXPECT_FALSE(hasNonNumber(html.substr(from, to - from)));
}

}  // namespace
}  // namespace dynamo::gateway
