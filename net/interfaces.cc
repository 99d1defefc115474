#include "net/interfaces.h"

#include <ifaddrs.h>

#include <algorithm>

namespace dynamo::net {

std::vector<IpAddress> interfaceAddresses() {
    std::vector<IpAddress> addresses;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0)
        return addresses;
    for (const ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
        const sockaddr* sa = entry->ifa_addr;
        if (sa == nullptr)
            continue;
        // AF_PACKET entries (one per link) carry no IP address: length 0 makes them fail.
        const socklen_t length = sa->sa_family == AF_INET    ? sizeof(sockaddr_in)
                                 : sa->sa_family == AF_INET6 ? sizeof(sockaddr_in6)
                                                             : 0;
        if (auto address = SocketAddress::fromSockaddr(sa, length))
            addresses.push_back(address->ip());
    }
    ::freeifaddrs(list);
    std::stable_partition(addresses.begin(), addresses.end(),
                          [](const IpAddress& ip) { return !ip.isLoopback(); });
    return addresses;
}

}  // namespace dynamo::net
