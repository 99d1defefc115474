#include "gateway/status/status_report.h"

#include <algorithm>
#include <cstdio>

namespace dynamo::gateway {

namespace {

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence at the start of `text` (RFC 3629 §4), or 0.
size_t validSequenceLength(std::string_view text) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
    const auto continuation = [&](size_t i) { return i < text.size() && (byte(i) & 0xC0) == 0x80; };
    const uint8_t lead = byte(0);
    if (lead < 0x80)
        return 1;
    if (lead >= 0xC2 && lead <= 0xDF)
        return continuation(1) ? 2 : 0;
    if (lead >= 0xE0 && lead <= 0xEF) {
        if (!continuation(1) || !continuation(2))
            return 0;
        // E0 needs A0..BF (no overlongs); ED needs 80..9F (no UTF-16 surrogates).
        if ((lead == 0xE0 && byte(1) < 0xA0) || (lead == 0xED && byte(1) > 0x9F))
            return 0;
        return 3;
    }
    if (lead >= 0xF0 && lead <= 0xF4) {
        if (!continuation(1) || !continuation(2) || !continuation(3))
            return 0;
        // F0 needs 90..BF (no overlongs); F4 needs 80..8F (nothing above U+10FFFF).
        if ((lead == 0xF0 && byte(1) < 0x90) || (lead == 0xF4 && byte(1) > 0x8F))
            return 0;
        return 4;
    }
    return 0;  // a stray continuation byte, C0/C1 (overlong ASCII), or F5..FF
}

std::string plural(int64_t count, std::string_view unit) {
    std::string text = std::to_string(count) + " " + std::string(unit);
    if (count != 1)
        text += "s";
    return text;
}

// The largest unit of a non-negative duration, rounded down: "3 minutes".
std::string largestUnit(std::chrono::seconds duration) {
    using namespace std::chrono;
    if (duration < minutes(1))
        return plural(duration.count(), "second");
    if (duration < hours(1))
        return plural(duration_cast<minutes>(duration).count(), "minute");
    if (duration < days(1))
        return plural(duration_cast<hours>(duration).count(), "hour");
    return plural(duration_cast<days>(duration).count(), "day");
}

}  // namespace

size_t queueLength(const StatusReport& report) {
    return static_cast<size_t>(std::count_if(report.accounts.begin(), report.accounts.end(),
                                             [](const auto& account) { return account.queued; }));
}

std::string toValidUtf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    while (!text.empty()) {
        const size_t length = validSequenceLength(text);
        if (length == 0) {
            out += kReplacementCharacter;
            text.remove_prefix(1);
        } else {
            out += text.substr(0, length);
            text.remove_prefix(length);
        }
    }
    return out;
}

std::string escapeHtml(std::string_view text) {
    std::string out;
    for (const char c : toValidUtf8(text)) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string jsonString(std::string_view text) {
    std::string out = "\"";
    for (const char c : toValidUtf8(text)) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                // RFC 8259 §7: U+0000..U+001F must be escaped; bytes >= 0x80 are UTF-8, kept.
                if (static_cast<uint8_t>(c) < 0x20) {
                    char escaped[8];
                    std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
                    out += escaped;
                } else {
                    out += c;
                }
        }
    }
    out += '"';
    return out;
}

std::string escapeLabelValue(std::string_view text) {
    std::string out;
    for (const char c : toValidUtf8(text)) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::optional<std::string> percentileBound(const resolver::LatencyHistogram& histogram,
                                           uint64_t percent) {
    if (histogram.count() == 0)
        return std::nullopt;
    // The smallest bucket holding at least ceil(count * percent / 100) observations.
    const uint64_t wanted = std::max<uint64_t>(1, (histogram.count() * percent + 99) / 100);
    for (size_t i = 0; i < resolver::LatencyHistogram::kBounds.size(); ++i) {
        if (histogram.cumulativeCount(i) >= wanted)
            return formatSeconds(resolver::LatencyHistogram::kBounds[i]);
    }
    return "+Inf";
}

std::string formatRfc3339(TimePoint time) {
    using namespace std::chrono;
    const auto second = floor<seconds>(time);
    const auto day = floor<days>(second);
    const year_month_day date{day};
    const hh_mm_ss clock{second - day};
    char text[40];
    std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02dZ",
                  static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                  static_cast<unsigned>(date.day()), static_cast<int>(clock.hours().count()),
                  static_cast<int>(clock.minutes().count()),
                  static_cast<int>(clock.seconds().count()));
    return text;
}

std::string formatSeconds(std::chrono::microseconds duration) {
    const int64_t micros = duration.count();
    std::string text = micros < 0 ? "-" : "";
    // Unsigned arithmetic so the most negative value has a magnitude too.
    const uint64_t magnitude =
        micros < 0 ? 0 - static_cast<uint64_t>(micros) : static_cast<uint64_t>(micros);
    text += std::to_string(magnitude / 1000000);
    if (uint64_t fraction = magnitude % 1000000; fraction != 0) {
        char digits[8];
        std::snprintf(digits, sizeof digits, "%06llu", static_cast<unsigned long long>(fraction));
        std::string_view trimmed = digits;
        trimmed = trimmed.substr(0, trimmed.find_last_not_of('0') + 1);
        text += ".";
        text += trimmed;
    }
    return text;
}

std::string describeDuration(std::chrono::seconds duration) {
    using namespace std::chrono;
    duration = std::max(duration, seconds(0));
    const auto showTwo = [](auto large, std::string_view largeUnit, auto small,
                            std::string_view smallUnit) {
        std::string text = plural(large.count(), largeUnit);
        if (small.count() != 0)
            text += " " + plural(small.count(), smallUnit);
        return text;
    };
    if (duration < minutes(1))
        return plural(duration.count(), "second");
    if (duration < hours(1)) {
        const auto whole = duration_cast<minutes>(duration);
        return showTwo(whole, "minute", duration - whole, "second");
    }
    if (duration < days(1)) {
        const auto whole = duration_cast<hours>(duration);
        return showTwo(whole, "hour", duration_cast<minutes>(duration - whole), "minute");
    }
    const auto whole = duration_cast<days>(duration);
    return showTwo(whole, "day", duration_cast<hours>(duration - whole), "hour");
}

std::string describeRelative(TimePoint when, TimePoint now) {
    using namespace std::chrono;
    const auto difference = duration_cast<seconds>(now - when);
    if (difference == seconds(0))
        return "just now";
    if (difference > seconds(0))
        return largestUnit(difference) + " ago";
    return "in " + largestUnit(-difference);
}

}  // namespace dynamo::gateway
