#pragma once
// ASCII-only text helpers. Protocol text (DNS names, HTTP header names, form keys, YAML keys) is
// ASCII and compared without regard to case; std::tolower() would consult the C locale, and
// bytes >= 0x80 must pass through unchanged (RFC 4343 §3: DNS case-insensitivity is ASCII only).

#include <string>
#include <string_view>

namespace dynamo::net {

constexpr char lowerAscii(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
std::string lowerAscii(std::string_view text);

bool equalsIgnoreCase(std::string_view a, std::string_view b);
bool startsWithIgnoreCase(std::string_view text, std::string_view prefix);
std::string_view trimWhitespace(std::string_view text);  // spaces, tabs, CR, LF
int hexValue(char c);                                    // 0-15 for [0-9a-fA-F], else -1

}  // namespace dynamo::net
