#include "net/log.h"

#include <unistd.h>

#include <cstdio>

namespace dynamo::log {
namespace {
Level currentLevel = Level::Info;

// sd-daemon(3) priority prefixes: journald files each line under its level. On a terminal a
// person reads them, and "<6>" is noise: the level word is enough there.
const char* prefix(Level level) {
    static const bool terminal = ::isatty(STDERR_FILENO) == 1;
    if (terminal) {
        switch (level) {
            case Level::Debug:
                return "debug: ";
            case Level::Info:
                return "info: ";
            case Level::Warning:
                return "warning: ";
            case Level::Error:
                return "error: ";
        }
        return "";
    }
    switch (level) {
        case Level::Debug:
            return "<7>debug: ";
        case Level::Info:
            return "<6>info: ";
        case Level::Warning:
            return "<4>warning: ";
        case Level::Error:
            return "<3>error: ";
    }
    return "";
}
}  // namespace

void setLevel(Level level) {
    currentLevel = level;
}
Level level() {
    return currentLevel;
}
bool enabled(Level level) {
    return level >= currentLevel;
}

void write(Level level, std::string_view message) {
    std::string line = prefix(level);
    line.append(message);
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
}

std::optional<Level> parseLevel(std::string_view name) {
    if (name == "debug")
        return Level::Debug;
    if (name == "info")
        return Level::Info;
    if (name == "warning" || name == "warn")
        return Level::Warning;
    if (name == "error")
        return Level::Error;
    return std::nullopt;
}

std::string maskSecret(std::string_view secret) {
    constexpr size_t kShown = 4;
    // 4 characters of a short password are most of it: show nothing of it.
    if (secret.size() < kMinShownSecret)
        return "\u2026";
    return std::string(secret.substr(0, kShown)) + "\u2026";  // "…"
}

std::string printable(std::string_view text, size_t maxLength) {
    static constexpr char kHex[] = "0123456789abcdef";
    const bool cut = text.size() > maxLength;
    if (cut)
        text = text.substr(0, maxLength);
    std::string out;
    out.reserve(text.size() + (cut ? 3 : 0));
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
            out.push_back(c);
        } else {
            out += "\\x";
            out.push_back(kHex[byte >> 4]);
            out.push_back(kHex[byte & 0x0f]);
        }
    }
    if (cut)
        out += "\u2026";
    return out;
}

}  // namespace dynamo::log
