#include "compat/form.h"

#include "net/ascii.h"

namespace dynamo::compat {

std::string formDecode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '+') {
            out.push_back(' ');
        } else if (c == '%' && i + 2 < text.size() && net::hexValue(text[i + 1]) >= 0 &&
                   net::hexValue(text[i + 2]) >= 0) {
            out.push_back(
                static_cast<char>(net::hexValue(text[i + 1]) * 16 + net::hexValue(text[i + 2])));
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
        if (net::equalsIgnoreCase(name, key))
            return std::string_view(value);
    }
    return std::nullopt;
}

}  // namespace dynamo::compat
