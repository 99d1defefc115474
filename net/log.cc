#include "net/log.h"

#include <cstdio>

namespace dynamo::log {
namespace {
Level currentLevel = Level::Info;

// sd-daemon(3) priority prefixes: journald files each line under its level.
const char* prefix(Level level) {
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
    // A secret this short would be shown whole: show nothing of it.
    if (secret.size() <= kShown)
        return "\u2026";
    return std::string(secret.substr(0, kShown)) + "\u2026";  // "…"
}

}  // namespace dynamo::log
