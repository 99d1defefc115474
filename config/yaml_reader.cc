#include "config/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <numeric>

#include "config/config.h"

namespace dynamo::config {
namespace {

int lineOf(const YAML::Node& node, int fallback) {
    // yaml-cpp marks are 0-based and -1 when unknown (e.g. an empty document).
    const int line = node.Mark().line;
    return line >= 0 ? line + 1 : fallback;
}

std::string childPath(std::string_view parent, std::string_view key) {
    if (parent.empty())
        return std::string(key);
    std::string path(parent);
    path.push_back('.');
    path.append(key);
    return path;
}

}  // namespace

std::string_view describe(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Null:
            return "nothing (null)";
        case YAML::NodeType::Scalar:
            return "a single value";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Map:
            return "a mapping";
        case YAML::NodeType::Undefined:
            break;
    }
    return "nothing";
}

size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    std::iota(row.begin(), row.end(), size_t{0});
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t above = row[j];
            const size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string formatDuration(std::chrono::milliseconds duration) {
    const auto ms = duration.count();
    if (ms % 1000 != 0)
        return std::to_string(ms) + "ms";
    return std::to_string(ms / 1000) + "s";
}

std::string printableMessage(std::string_view text) {
    return log::printable(text, kMaxMessageLength);
}

std::string YamlReader::format(int line, std::string_view path, std::string_view problem) const {
    std::string text = fileName_ + ":" + std::to_string(line) + ": ";
    if (!path.empty()) {
        text.append(path);
        text.append(": ");
    }
    text.append(problem);
    // Keys and values are quoted from the file, which may hold any bytes.
    return printableMessage(text);
}

void YamlReader::error(const Item& item, std::string_view problem) {
    errors_.push_back(format(item.line, item.path, problem));
}

void YamlReader::error(int line, std::string_view path, std::string_view problem) {
    errors_.push_back(format(line, path, problem));
}

void YamlReader::warn(const Item& item, std::string_view problem) {
    warnings_.push_back(format(item.line, item.path, problem));
}

void YamlReader::readMap(const Item& item, const std::vector<Field>& fields) {
    if (item.node.IsNull())
        return;
    if (!item.node.IsMap()) {
        error(item, "expected a mapping of keys, got " + std::string(describe(item.node)));
        return;
    }
    std::vector<std::string> seen;
    for (auto it = item.node.begin(); it != item.node.end(); ++it) {
        const int keyLine = lineOf(it->first, item.line);
        if (!it->first.IsScalar()) {
            error(keyLine, item.path,
                  "keys must be plain names, got " + std::string(describe(it->first)));
            continue;
        }
        const std::string& key = it->first.Scalar();
        const Item child{it->second, childPath(item.path, key), keyLine};
        if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
            error(child, "key appears twice");
            continue;
        }
        seen.push_back(key);
        const auto field = std::find_if(fields.begin(), fields.end(),
                                        [&](const Field& f) { return f.name == key; });
        if (field != fields.end()) {
            field->read(child);
            continue;
        }
        std::string problem = "unknown key";
        size_t best = 3;
        for (const auto& candidate : fields) {
            const size_t distance = editDistance(key, candidate.name);
            if (distance < best) {
                best = distance;
                problem = "unknown key; did you mean '" + std::string(candidate.name) + "'?";
            }
        }
        error(child, problem);
    }
}

std::optional<std::vector<Item>> YamlReader::readList(const Item& item) {
    std::vector<Item> entries;
    if (item.node.IsNull())
        return entries;
    if (!item.node.IsSequence()) {
        error(item, "expected a list, got " + std::string(describe(item.node)));
        return std::nullopt;
    }
    size_t index = 0;
    for (const auto& entry : item.node) {
        entries.push_back(
            Item{entry, item.path + "[" + std::to_string(index) + "]", lineOf(entry, item.line)});
        ++index;
    }
    return entries;
}

std::optional<std::string> YamlReader::readString(const Item& item, std::string_view expectation) {
    if (!item.node.IsScalar()) {
        error(item, std::string(expectation) + ", got " + std::string(describe(item.node)));
        return std::nullopt;
    }
    return item.node.Scalar();
}

std::optional<bool> YamlReader::readBool(const Item& item) {
    static constexpr std::string_view kExpectation = "expected true or false";
    auto text = readString(item, kExpectation);
    if (!text)
        return std::nullopt;
    if (*text == "true")
        return true;
    if (*text == "false")
        return false;
    error(item, std::string(kExpectation) + ", got '" + *text + "'");
    return std::nullopt;
}

std::optional<uint64_t> YamlReader::readUnsigned(const Item& item, uint64_t min, uint64_t max) {
    static constexpr std::string_view kExpectation = "expected a non-negative integer";
    auto text = readString(item, kExpectation);
    if (!text)
        return std::nullopt;
    uint64_t value = 0;
    const char* end = text->data() + text->size();
    auto [stop, problem] = std::from_chars(text->data(), end, value);
    if (text->empty() || problem == std::errc::invalid_argument || stop != end) {
        error(item, std::string(kExpectation) + ", got '" + *text + "'");
        return std::nullopt;
    }
    if (problem == std::errc::result_out_of_range || value < min || value > max) {
        error(item, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                        ", got " + *text);
        return std::nullopt;
    }
    return value;
}

std::optional<std::chrono::milliseconds> YamlReader::readDuration(const Item& item,
                                                                  std::chrono::milliseconds min,
                                                                  std::chrono::milliseconds max) {
    static constexpr std::string_view kExpectation =
        "expected a duration: seconds, or a number with ms, s, m, h or d (e.g. 15s, 5m)";
    auto text = readString(item, kExpectation);
    if (!text)
        return std::nullopt;
    auto duration = parseDuration(*text);
    if (!duration) {
        error(item, std::string(kExpectation) + ", got '" + *text + "'");
        return std::nullopt;
    }
    if (*duration < min || *duration > max) {
        error(item, "must be between " + formatDuration(min) + " and " + formatDuration(max) +
                        ", got " + *text);
        return std::nullopt;
    }
    return duration;
}

}  // namespace dynamo::config
