// The counter table (gateway/status/status_counters.h): well-formed, and the same list as the
// metric table in README.md's "Status page and metrics".

#include "gateway/status/status_counters.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace dynamo::gateway {
namespace {

using testing::ElementsAreArray;
using testing::HasSubstr;
using testing::IsEmpty;

// ---- the table itself ----

TEST(StatusCounters, NamesAreUniqueAndFollowThePrometheusConventions) {
    std::set<std::string_view> names;
    const std::regex identifier("[a-z][a-z0-9_]*");
    for (const CounterFamily& family : counterFamilies()) {
        SCOPED_TRACE(family.name);
        EXPECT_TRUE(names.insert(family.name).second) << "listed twice";
        EXPECT_TRUE(std::regex_match(std::string(family.name), identifier));
        // Counters end in _total, nothing else does (Prometheus naming practice).
        EXPECT_EQ(family.name.ends_with("_total"), family.type == MetricType::kCounter);
        EXPECT_FALSE(family.help.empty());
        EXPECT_EQ(family.help.find_first_of("\\\n"), std::string_view::npos);
    }
}

TEST(StatusCounters, EachShapeHasWhatItsRenderersRead) {
    for (const CounterFamily& family : counterFamilies()) {
        SCOPED_TRACE(family.name);
        EXPECT_EQ(family.histogram != nullptr, family.shape == Shape::kHistogram);
        EXPECT_EQ(family.perAccount != nullptr, family.shape == Shape::kPerAccount);
        EXPECT_EQ(family.perUpstream != nullptr, family.shape == Shape::kPerUpstream);
        EXPECT_EQ(family.upstreamHistogram != nullptr,
                  family.shape == Shape::kPerUpstreamHistogram);
        EXPECT_EQ(
            family.type == MetricType::kHistogram,
            family.shape == Shape::kHistogram || family.shape == Shape::kPerUpstreamHistogram);
        switch (family.shape) {
            case Shape::kSamples: {
                ASSERT_FALSE(family.samples.empty());
                std::set<std::string_view> values;
                for (const CounterSample& sample : family.samples) {
                    EXPECT_NE(sample.value, nullptr);
                    EXPECT_EQ(sample.labelValue.empty(), family.labelKey.empty());
                    EXPECT_TRUE(values.insert(sample.labelValue).second) << sample.labelValue;
                }
                break;
            }
            case Shape::kHistogram:
                ASSERT_EQ(family.samples.size(), 1u);
                EXPECT_TRUE(family.labelKey.empty());
                break;
            case Shape::kPerAccount:
                EXPECT_EQ(family.labelKey, "account");
                EXPECT_THAT(family.samples, IsEmpty());
                break;
            case Shape::kPerUpstream:
            case Shape::kPerUpstreamHistogram:
                EXPECT_EQ(family.labelKey, "upstream");
                EXPECT_THAT(family.samples, IsEmpty());
                break;
            case Shape::kBuildInfo:
                EXPECT_EQ(family.labelKey, "version");
                EXPECT_THAT(family.samples, IsEmpty());
                break;
        }
    }
}

TEST(StatusCounters, JsonPathsNameDistinctLeaves) {
    std::set<std::string> leaves;
    std::set<std::string> objects;
    for (const CounterFamily& family : counterFamilies()) {
        for (const CounterSample& sample : family.samples) {
            if (sample.jsonPath.empty())
                continue;
            const std::string path(sample.jsonPath);
            EXPECT_TRUE(leaves.insert(path).second) << path << " twice";
            for (size_t dot = path.find('.'); dot != std::string::npos;
                 dot = path.find('.', dot + 1))
                objects.insert(path.substr(0, dot));
        }
    }
    // A path may not be a number and an object at once.
    for (const std::string& leaf : leaves)
        EXPECT_FALSE(objects.contains(leaf)) << leaf;
}

TEST(StatusCounters, PageRowsAreOnATableAndUnique) {
    std::set<std::string_view> labels;
    for (const CounterFamily& family : counterFamilies()) {
        for (const CounterSample& sample : family.samples) {
            if (sample.pageLabel.empty())
                continue;
            EXPECT_NE(family.page, PageTable::kNone) << sample.pageLabel;
            EXPECT_TRUE(labels.insert(sample.pageLabel).second) << sample.pageLabel;
        }
    }
}

// ---- the renderers follow it ----

// Every number a different value, so a row that reads the wrong field shows.
StatusReport distinctReport() {
    StatusReport report;
    report.dns.queries = {.udpQueries = 101,
                          .tcpQueries = 102,
                          .dropped = 103,
                          .refused = 104,
                          .formErr = 105,
                          .notImp = 106,
                          .intercepted = 107,
                          .cacheHits = 108,
                          .forwarded = 109,
                          .servFail = 110,
                          .truncated = 111};
    report.dns.cacheEntries = 112;
    report.dns.cacheHits = 113;
    report.dns.cacheMisses = 114;
    report.dns.forwarder = {.sent = 115, .coalesced = 116, .failed = 117, .overloaded = 118};
    report.dns.forwarderInFlight = 119;
    report.dns.tcpConnections = 120;
    report.updates = {.requests = 121,
                      .badAuth = 122,
                      .good = 123,
                      .noChange = 124,
                      .queued = 125,
                      .failed = 126};
    report.http = {.connections = 127, .closedOverCap = 128, .closedLifetime = 129};
    return report;
}

TEST(StatusCounters, EverySampleIsInEachOutputItNames) {
    const StatusReport report = distinctReport();
    const std::string metrics = renderMetrics(report);
    const std::string json = renderStatusJson(report);
    const std::string html = renderStatusHtml(report);
    std::set<uint64_t> seen;
    for (const CounterFamily& family : counterFamilies()) {
        if (family.shape != Shape::kSamples)
            continue;
        for (const CounterSample& sample : family.samples) {
            SCOPED_TRACE(std::string(family.name) + " " + std::string(sample.labelValue));
            const std::string value = std::to_string(sample.value(report));
            std::string line = std::string(kMetricPrefix) + std::string(family.name);
            if (!family.labelKey.empty()) {
                line += "{" + std::string(family.labelKey) + "=\"" +
                        std::string(sample.labelValue) + "\"}";
            }
            EXPECT_THAT(metrics, HasSubstr("\n" + line + " " + value + "\n"));
            if (!sample.jsonPath.empty()) {
                const std::string_view path = sample.jsonPath;
                const std::string key(path.substr(path.rfind('.') + 1));
                EXPECT_THAT(json, HasSubstr("\"" + key + "\": " + value));
            }
            if (!sample.pageLabel.empty()) {
                EXPECT_THAT(html, HasSubstr("<th scope=\"row\">" + std::string(sample.pageLabel) +
                                            "</th><td>" + value + "</td>"));
            }
            if (!sample.jsonPath.empty() || !sample.pageLabel.empty())
                seen.insert(sample.value(report));
        }
    }
    // Every field of distinctReport() (101..129) is shown on the page or in the JSON.
    for (uint64_t value = 101; value <= 129; ++value)
        EXPECT_TRUE(seen.contains(value)) << value;
}

// ---- README.md ----

// One row of the README's metric table.
struct ReadmeRow {
    std::string type;
    std::string labelKey;
    std::vector<std::string> labelValues;
};

std::string readmeSection() {
    const std::string path = std::string(DYNAMO_SOURCE_DIR) + "/README.md";
    std::ifstream file(path);
    EXPECT_TRUE(file) << path;
    std::stringstream text;
    text << file.rdbuf();
    const std::string readme = text.str();
    const size_t start = readme.find("\n## Status page and metrics\n");
    EXPECT_NE(start, std::string::npos) << "no section \"Status page and metrics\" in " << path;
    if (start == std::string::npos)
        return "";
    const size_t end = readme.find("\n## ", start + 1);
    return readme.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string trim(const std::string& text) {
    const size_t first = text.find_first_not_of(' ');
    return first == std::string::npos ? ""
                                      : text.substr(first, text.find_last_not_of(' ') - first + 1);
}

// `| `dynamo_gateway_x` | type | `key`: `a`, `b` | meaning |`, by name.
std::map<std::string, ReadmeRow> readmeRows(const std::string& section) {
    std::map<std::string, ReadmeRow> rows;
    const std::regex code("`([^`]*)`");
    std::istringstream lines(section);
    for (std::string line; std::getline(lines, line);) {
        if (!line.starts_with("| `dynamo_gateway_"))
            continue;
        std::vector<std::string> cells;
        std::istringstream cellStream(line.substr(1));
        for (std::string cell; std::getline(cellStream, cell, '|');)
            cells.push_back(trim(cell));
        EXPECT_EQ(cells.size(), 4u) << line;
        if (cells.size() < 3)
            continue;
        ReadmeRow row{.type = cells[1], .labelKey = {}, .labelValues = {}};
        for (std::sregex_iterator it(cells[2].begin(), cells[2].end(), code), end; it != end;
             ++it) {
            if (row.labelKey.empty())
                row.labelKey = (*it)[1];
            else
                row.labelValues.push_back((*it)[1]);
        }
        const std::string name = cells[0].substr(1, cells[0].size() - 2);  // without backticks
        EXPECT_TRUE(rows.emplace(name, row).second) << name << " listed twice";
    }
    return rows;
}

TEST(StatusCounters, ReadmeListsExactlyTheTablesMetrics) {
    const std::string section = readmeSection();
    const std::map<std::string, ReadmeRow> rows = readmeRows(section);

    // Every metric name the section mentions, in the table or in prose.
    std::set<std::string> mentioned;
    const std::regex metric(std::string(kMetricPrefix) + "[a-z0-9_]+");
    for (std::sregex_iterator it(section.begin(), section.end(), metric), end; it != end; ++it)
        mentioned.insert(it->str());

    std::set<std::string> listed;
    for (const CounterFamily& family : counterFamilies()) {
        const std::string name = std::string(kMetricPrefix) + std::string(family.name);
        listed.insert(name);
        SCOPED_TRACE(name);
        const auto row = rows.find(name);
        if (row == rows.end()) {
            ADD_FAILURE() << "not in README.md's metric table";
            continue;
        }
        EXPECT_EQ(row->second.type, metricTypeName(family.type));
        EXPECT_EQ(row->second.labelKey, family.labelKey);
        std::vector<std::string> values;
        if (family.shape == Shape::kSamples && !family.labelKey.empty()) {
            for (const CounterSample& sample : family.samples)
                values.emplace_back(sample.labelValue);
        }
        EXPECT_THAT(row->second.labelValues, ElementsAreArray(values));
    }
    for (const std::string& name : mentioned)
        EXPECT_TRUE(listed.contains(name)) << name << " is in README.md but not in the code";
    EXPECT_EQ(rows.size(), counterFamilies().size());
}

}  // namespace
}  // namespace dynamo::gateway
