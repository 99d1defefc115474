#include "resolver/dns_server.h"

#include "net/log.h"

namespace dynamo::resolver {

std::unique_ptr<DnsServer> DnsServer::create(event_base* base, const config::DnsConfig& config,
                                             dns::Clock clock, std::string* error,
                                             AddressSource addresses) {
    auto forwarder = Forwarder::create(base, QueryHandler::forwarderSettings(config), error);
    if (!forwarder)
        return nullptr;
    std::unique_ptr<DnsServer> server(new DnsServer());
    server->addresses_ = std::move(addresses);
    server->handler_ = std::make_unique<QueryHandler>(config, std::move(forwarder),
                                                      std::move(clock), server->addresses_());
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
    return server;
}

bool DnsServer::reconfigure(const config::DnsConfig& config, std::string* error) {
    if (!handler_->reconfigure(config, error))
        return false;
    handler_->setHostAddresses(addresses_());
    return true;
}

size_t DnsServer::tcpConnections() const {
    size_t total = 0;
    for (const auto& listener : tcp_)
        total += listener->connections();
    return total;
}

}  // namespace dynamo::resolver
