#include "compat/hostname.h"

#include <algorithm>

#include "net/ascii.h"

namespace dynamo::compat {
namespace {

constexpr size_t kMaxNameLength = 253;
constexpr size_t kMaxLabelLength = 63;

std::string_view withoutTrailingDot(std::string_view name) {
    if (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    return name;
}

bool isLabelCharacter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

// The minimum any name must meet, allow-list or not.
bool isAcceptableName(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameLength)
        return false;
    return std::none_of(name.begin(), name.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte < 0x20 || byte == 0x7f;
    });
}

}  // namespace

std::vector<std::string> splitHostnames(std::string_view list) {
    std::vector<std::string> names;
    while (!list.empty() && names.size() <= kMaxHostnames) {
        const size_t comma = list.find(',');
        const std::string_view item = net::trimWhitespace(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (item.empty())
            continue;
        std::string name(item);
        std::transform(name.begin(), name.end(), name.begin(), [](char c) {
            return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        });
        names.push_back(std::move(name));
    }
    return names;
}

bool isWellFormedHostname(std::string_view name) {
    name = withoutTrailingDot(name);
    if (name.empty() || name.size() > kMaxNameLength)
        return false;
    size_t labelLength = 0;
    for (const char c : name) {
        if (c == '.') {
            if (labelLength == 0)
                return false;
            labelLength = 0;
            continue;
        }
        if (!isLabelCharacter(c) || ++labelLength > kMaxLabelLength)
            return false;
    }
    return labelLength > 0;
}

bool HostnameCheck::anyAccepted() const {
    return request == Request::Ok &&
           std::find(hosts.begin(), hosts.end(), HostnameVerdict::Ok) != hosts.end();
}

HostnameCheck checkHostnames(std::span<const std::string> hostnames,
                             const config::Account& account) {
    HostnameCheck check;
    if (hostnames.empty()) {
        check.request = HostnameCheck::Request::NotFqdn;
        return check;
    }
    if (hostnames.size() > kMaxHostnames) {
        check.request = HostnameCheck::Request::NumHost;
        return check;
    }
    check.request = HostnameCheck::Request::Ok;
    const std::vector<std::string>& allowed = account.hostnames;
    for (const std::string& name : hostnames) {
        HostnameVerdict verdict = HostnameVerdict::Ok;
        if (!isAcceptableName(name)) {
            verdict = HostnameVerdict::NotFqdn;
        } else if (!allowed.empty()) {
            const std::string_view bare = withoutTrailingDot(name);
            if (!isWellFormedHostname(name)) {
                verdict = HostnameVerdict::NotFqdn;
            } else if (std::find(allowed.begin(), allowed.end(), bare) == allowed.end()) {
                verdict = HostnameVerdict::NoHost;
            }
        }
        check.hosts.push_back(verdict);
    }
    return check;
}

}  // namespace dynamo::compat
