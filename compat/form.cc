#include "compat/form.h"

namespace dynamo::compat {

std::string formDecode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '+') {
            out.push_back(' ');
        } else if (c == '%' && i + 2 < text.size() && hexValue(text[i + 1]) >= 0 &&
                   hexValue(text[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hexValue(text[i + 1]) * 16 + hexValue(text[i + 2])));
            i += 2;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

void Form::parse(std::string_view text) {
    while (!text.empty()) {
        const size_t amp = text.find('&');
        const std::string_view pair = text.substr(0, amp);
        text = amp == std::string_view::npos ? std::string_view{} : text.substr(amp + 1);
        if (pair.empty())
            continue;

        const size_t eq = pair.find('=');
        const std::string_view rawKey = pair.substr(0, eq);
        const std::string_view rawValue =
            eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        // Decoding never makes a component longer, so checking the raw lengths first keeps the
        // work per pair bounded too.
        if (params_.size() >= kMaxParams || rawKey.size() > 3 * kMaxKeyLength ||
            rawValue.size() > 3 * kMaxValueLength) {
            ++dropped_;
            continue;
        }
        std::string key = formDecode(rawKey);
        std::string value = formDecode(rawValue);
        if (key.size() > kMaxKeyLength || value.size() > kMaxValueLength) {
            ++dropped_;
            continue;
        }
        params_.emplace_back(std::move(key), std::move(value));
    }
}

std::optional<std::string_view> Form::get(std::string_view key) const {
    for (const auto& [name, value] : params_) {
        if (equalsIgnoreCase(name, key))
            return std::string_view(value);
    }
    return std::nullopt;
}

int hexValue(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char lowerAscii(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowerAscii(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        c = lowerAscii(c);
    return out;
}

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && equalsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (lowerAscii(a[i]) != lowerAscii(b[i]))
            return false;
    }
    return true;
}

std::string_view trimWhitespace(std::string_view text) {
    constexpr std::string_view kWhitespace = " \t\r\n";
    const size_t first = text.find_first_not_of(kWhitespace);
    if (first == std::string_view::npos)
        return {};
    const size_t last = text.find_last_not_of(kWhitespace);
    return text.substr(first, last - first + 1);
}

}  // namespace dynamo::compat
