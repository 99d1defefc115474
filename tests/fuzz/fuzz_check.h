#pragma once
// What every fuzz target checks besides "no crash": properties that must hold in release builds
// too (not assert()), and that text meant for the log is printable.

#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(condition)                                                                  \
    do {                                                                                       \
        if (!(condition)) {                                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                      \
        }                                                                                      \
    } while (false)

namespace dynamo::fuzz {

// Printable ASCII, or the "…" log::printable() puts where it cut: nothing of the input's bytes
// may reach a log line raw.
inline bool isPrintableLogText(std::string_view text) {
    static constexpr std::string_view kEllipsis = "\u2026";
    for (size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f)
            continue;
        if (text.substr(i, kEllipsis.size()) != kEllipsis)
            return false;
        i += kEllipsis.size() - 1;
    }
    return true;
}

}  // namespace dynamo::fuzz
