#include "net/dns_name.h"

#include "net/ascii.h"

namespace dynamo::net {
namespace {

bool isLabelCharacter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

std::string_view withoutTrailingDot(std::string_view name) {
    if (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    return name;
}

// The name without its trailing dot: 1..63 label characters between dots, 253 in all.
bool hasWellFormedLabels(std::string_view name) {
    if (name.empty() || name.size() > kMaxHostnameLength)
        return false;
    size_t labelLength = 0;
    for (const char c : name) {
        if (c == '.') {
            if (labelLength == 0)
                return false;
            labelLength = 0;
        } else if (!isLabelCharacter(c) || ++labelLength > kMaxLabelLength) {
            return false;
        }
    }
    return labelLength > 0;
}

}  // namespace

bool isWellFormedHostname(std::string_view name) {
    return hasWellFormedLabels(withoutTrailingDot(name));
}

std::optional<std::string> canonicalHostname(std::string_view name, bool allowWildcard) {
    name = withoutTrailingDot(name);
    const bool wildcard = allowWildcard && name.starts_with("*.");
    if (!hasWellFormedLabels(wildcard ? name.substr(2) : name) ||
        name.size() > kMaxHostnameLength) {
        return std::nullopt;
    }
    return lowerAscii(name);
}

}  // namespace dynamo::net
