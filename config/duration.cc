// parseDuration(): the one duration syntax of the configuration
// (docs/configuration.md#value-syntax: plain numbers are seconds; "5m", "1h" forms). A fraction is
// allowed ("1.5s", "0.5") when it comes out as whole milliseconds, because YAML users write
// `timeout: 2.5` and expect it to mean what it says.

#include <cstdint>
#include <limits>

#include "config/config.h"

namespace dynamo::config {
namespace {

constexpr uint64_t kMaxMilliseconds = uint64_t{1} << 52;  // ~142,000 years: no overflow anywhere

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

std::optional<uint64_t> unitMilliseconds(std::string_view suffix) {
    if (suffix.empty() || suffix == "s")
        return 1000;
    if (suffix == "ms")
        return 1;
    if (suffix == "m")
        return 60'000;
    if (suffix == "h")
        return 3'600'000;
    if (suffix == "d")
        return 86'400'000;
    return std::nullopt;
}

}  // namespace

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
    size_t position = 0;
    uint64_t whole = 0;
    size_t wholeDigits = 0;
    while (position < text.size() && isDigit(text[position])) {
        whole = whole * 10 + static_cast<uint64_t>(text[position] - '0');
        if (whole > kMaxMilliseconds)
            return std::nullopt;
        ++position;
        ++wholeDigits;
    }
    // The fraction as numerator / denominator, so "0.001s" is exact and "0.0001s" is refused.
    uint64_t fraction = 0;
    uint64_t denominator = 1;
    if (position < text.size() && text[position] == '.') {
        ++position;
        const size_t start = position;
        while (position < text.size() && isDigit(text[position])) {
            if (denominator >= 1'000'000'000)
                return std::nullopt;
            fraction = fraction * 10 + static_cast<uint64_t>(text[position] - '0');
            denominator *= 10;
            ++position;
        }
        if (position == start)
            return std::nullopt;
    }
    if (wholeDigits == 0)
        return std::nullopt;
    const auto unit = unitMilliseconds(text.substr(position));
    if (!unit)
        return std::nullopt;
    if (whole > kMaxMilliseconds / *unit)
        return std::nullopt;
    const uint64_t fractionScaled = fraction * *unit;
    if (fractionScaled % denominator != 0)
        return std::nullopt;
    const uint64_t total = whole * *unit + fractionScaled / denominator;
    if (total > kMaxMilliseconds)
        return std::nullopt;
    return std::chrono::milliseconds(static_cast<int64_t>(total));
}

}  // namespace dynamo::config
