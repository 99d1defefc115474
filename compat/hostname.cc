#include "compat/hostname.h"

#include <algorithm>

#include "net/ascii.h"
#include "net/dns_name.h"

namespace dynamo::compat {
namespace {

// The minimum any name must meet, allow-list or not.
bool isAcceptableName(std::string_view name) {
    if (name.empty() || name.size() > net::kMaxHostnameLength)
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
        names.push_back(net::lowerAscii(item));
    }
    return names;
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
            const std::optional<std::string> canonical = net::canonicalHostname(name);
            if (!canonical) {
                verdict = HostnameVerdict::NotFqdn;
            } else if (std::find(allowed.begin(), allowed.end(), *canonical) == allowed.end()) {
                verdict = HostnameVerdict::NoHost;
            }
        }
        check.hosts.push_back(verdict);
    }
    return check;
}

}  // namespace dynamo::compat
