#pragma once
// Walks a parsed YAML tree for config.cc and collects every problem as one line
// "file:line: key: problem", so --check shows all of them at once instead of the first.
// Internal to config/: nothing outside this folder includes yaml-cpp.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::config {

// A YAML value with where it came from: its dotted key path ("dns.cache.size", "accounts[1]")
// and the 1-based line users see in their editor.
struct Item {
    YAML::Node node;
    std::string path;
    int line = 1;
};

class YamlReader {
  public:
    explicit YamlReader(std::string fileName) : fileName_(std::move(fileName)) {}

    void error(const Item& item, std::string_view problem);
    void error(int line, std::string_view path, std::string_view problem);
    void warn(const Item& item, std::string_view problem);
    bool failed() const { return !errors_.empty(); }
    std::vector<std::string> takeErrors() { return std::move(errors_); }
    std::vector<std::string> takeWarnings() { return std::move(warnings_); }

    struct Field {
        std::string_view name;
        std::function<void(const Item&)> read;
    };
    // Calls `read` for each key present, in file order. Unknown and repeated keys are errors
    // (yaml-cpp keeps both copies of a repeated key; silently taking one would hide a typo).
    // A null value (the key written with nothing after it) means "all defaults".
    void readMap(const Item& item, const std::vector<Field>& fields);
    // The entries of a sequence, each with its own line; null is an empty list.
    std::optional<std::vector<Item>> readList(const Item& item);
    // The text of a scalar. Null is an error unless the caller checked for it first.
    std::optional<std::string> readString(const Item& item, std::string_view expectation);
    // true or false, written so (YAML 1.1's yes/no/on/off are refused: "no" is also Norway).
    std::optional<bool> readBool(const Item& item);
    std::optional<uint64_t> readUnsigned(const Item& item, uint64_t min, uint64_t max);
    std::optional<std::chrono::milliseconds> readDuration(const Item& item,
                                                          std::chrono::milliseconds min,
                                                          std::chrono::milliseconds max);

  private:
    std::string format(int line, std::string_view path, std::string_view problem) const;

    std::string fileName_;
    std::vector<std::string> errors_;
    std::vector<std::string> warnings_;
};

// Messages quote keys, values and yaml-cpp's own text (which may quote the file): every line
// leaves config/ through log::printable(), so a stray byte (0xfb, a newline, a terminal escape)
// reaches the journal or the terminal as "\xNN". Longer lines are cut.
inline constexpr size_t kMaxMessageLength = 1024;
std::string printableMessage(std::string_view text);

// What a YAML node is, for "expected a list, got a mapping".
std::string_view describe(const YAML::Node& node);
// Levenshtein distance, for "did you mean 'upstreams'?".
size_t editDistance(std::string_view a, std::string_view b);
// "500ms", "15s": how a range is shown in messages.
std::string formatDuration(std::chrono::milliseconds duration);

}  // namespace dynamo::config
