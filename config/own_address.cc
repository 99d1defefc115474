#include "config/own_address.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dynamo::config {
namespace {

// Whether a wildcard listener of `listenFamily` receives packets for `target`'s family: only
// its own. bindSocket() sets IPV6_V6ONLY on every [::] socket (so "[::]:53" and "0.0.0.0:53"
// can both be bound), so an IPv6 wildcard does not receive IPv4 traffic.
bool wildcardCovers(int listenFamily, const net::IpAddress& target) {
    return listenFamily == target.family();
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
