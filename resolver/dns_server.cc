#include "resolver/dns_server.h"

#include <ifaddrs.h>

#include <algorithm>

#include "net/log.h"

namespace dynamo::resolver {

std::vector<net::IpAddress> hostAddresses() {
    std::vector<net::IpAddress> addresses;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0)
        return addresses;
    for (ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
        if (entry->ifa_addr == nullptr)
            continue;
        const socklen_t length =
            entry->ifa_addr->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
        if (auto address = net::SocketAddress::fromSockaddr(entry->ifa_addr, length)) {
            addresses.push_back(address->ip());
        }
    }
    ::freeifaddrs(list);
    std::stable_partition(addresses.begin(), addresses.end(),
                          [](const net::IpAddress& ip) { return !ip.isLoopback(); });
    return addresses;
}

std::unique_ptr<DnsServer> DnsServer::create(event_base* base, const config::DnsConfig& config,
                                             dns::Clock clock, std::string* error) {
    auto forwarder = Forwarder::create(base, QueryHandler::forwarderSettings(config), error);
    if (!forwarder)
        return nullptr;
    std::unique_ptr<DnsServer> server(new DnsServer());
    server->handler_ = std::make_unique<QueryHandler>(config, std::move(forwarder),
                                                      std::move(clock), hostAddresses());
    for (const auto& address : config.listen) {
        auto udp = UdpListener::create(base, address, *server->handler_, error);
        if (!udp)
            return nullptr;
        auto tcp = TcpListener::create(base, address, *server->handler_, error);
        if (!tcp)
            return nullptr;
        server->udp_.push_back(std::move(udp));
        server->tcp_.push_back(std::move(tcp));
        DLOG(Info) << "dns: listening on " << address.toString() << " (udp, tcp)";
    }
    server->listen_ = config.listen;
    return server;
}

bool DnsServer::reconfigure(const config::DnsConfig& config, std::string* error) {
    if (!handler_->reconfigure(config, error))
        return false;
    if (config.listen != listen_) {
        DLOG(Warning) << "dns.listen changed: restart the daemon to listen on the new addresses";
    }
    return true;
}

size_t DnsServer::tcpConnections() const {
    size_t total = 0;
    for (const auto& listener : tcp_)
        total += listener->connections();
    return total;
}

}  // namespace dynamo::resolver
