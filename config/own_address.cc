#include "config/own_address.h"

#include <ifaddrs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dynamo::config {
namespace {

// Whether a wildcard listener of `listenFamily` receives packets for `target`'s family.
bool wildcardCovers(int listenFamily, const net::IpAddress& target) {
    return listenFamily == AF_INET6 || target.isV4();
}

bool isLocal(const net::IpAddress& ip, const std::vector<net::IpAddress>& localAddresses) {
    return std::any_of(localAddresses.begin(), localAddresses.end(),
                       [&](const net::IpAddress& local) { return local.unmapped() == ip; });
}

}  // namespace

bool hasWildcard(const std::vector<net::SocketAddress>& listen) {
    return std::any_of(listen.begin(), listen.end(),
                       [](const net::SocketAddress& a) { return a.ip().isUnspecified(); });
}

bool reachesListener(const net::SocketAddress& target,
                     const std::vector<net::SocketAddress>& listen,
                     const std::vector<net::IpAddress>& localAddresses) {
    const net::IpAddress ip = target.ip().unmapped();
    for (const auto& own : listen) {
        if (own.port() != target.port())
            continue;
        const net::IpAddress ownIp = own.ip().unmapped();
        if (ownIp == ip)
            return true;
        if (ownIp.isUnspecified() && wildcardCovers(own.family(), ip) &&
            (ip.isLoopback() || isLocal(ip, localAddresses))) {
            return true;
        }
    }
    return false;
}

bool mayReachListener(const net::SocketAddress& target,
                      const std::vector<net::SocketAddress>& listen,
                      const std::vector<net::IpAddress>& localAddresses) {
    if (reachesListener(target, listen, localAddresses))
        return true;
    const net::IpAddress ip = target.ip().unmapped();
    return ip.isLoopback() &&
           std::any_of(listen.begin(), listen.end(), [&](const net::SocketAddress& own) {
               return own.port() == target.port() && own.ip().unmapped().isLoopback();
           });
}

std::vector<net::IpAddress> interfaceAddresses() {
    std::vector<net::IpAddress> addresses;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0)
        return addresses;
    for (const ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
        const sockaddr* sa = entry->ifa_addr;
        if (sa == nullptr)
            continue;
        const socklen_t length = sa->sa_family == AF_INET    ? sizeof(sockaddr_in)
                                 : sa->sa_family == AF_INET6 ? sizeof(sockaddr_in6)
                                                             : 0;
        if (auto address = net::SocketAddress::fromSockaddr(sa, length)) {
            addresses.push_back(address->ip());
        }
    }
    freeifaddrs(list);
    return addresses;
}

ResolvConf readResolvConf(const std::string& path) {
    ResolvConf result;
    std::ifstream file(path);
    if (!file) {
        result.error = std::strerror(errno);
        return result;
    }
    std::string line;
    while (std::getline(file, line)) {
        std::istringstream words(line);
        std::string keyword;
        std::string value;
        if (!(words >> keyword >> value) || keyword != "nameserver")
            continue;
        if (value.find('%') != std::string::npos)
            continue;
        auto ip = net::IpAddress::parse(value);
        if (!ip || ip->isUnspecified())
            continue;
        result.nameservers.emplace_back(*ip, uint16_t{53});
    }
    return result;
}

}  // namespace dynamo::config
