#pragma once
// The DNS half of the daemon: the query handler and a UDP and a TCP listener on every
// dns.listen address.

#include <event2/event.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "net/interfaces.h"
#include "resolver/query_handler.h"
#include "resolver/tcp_listener.h"
#include "resolver/udp_listener.h"

namespace dynamo::resolver {

class DnsServer {
  public:
    // This host's addresses, the fallback answer for `answer_ipv4/ipv6: auto` when a query
    // arrives over the other family; injectable for tests.
    using AddressSource = std::function<std::vector<net::IpAddress>()>;

    // Binds every listener; nullptr and *error (naming the address) when one cannot be bound.
    static std::unique_ptr<DnsServer> create(event_base* base, const config::DnsConfig& config,
                                             dns::Clock clock, std::string* error,
                                             AddressSource addresses = net::interfaceAddresses);

    // SIGHUP. Listen addresses are bound once: a change to dns.listen needs a restart (the
    // daemon may no longer have the privilege to bind port 53), and says so. The host's
    // addresses are read again (DHCP renewed, an interface came up).
    bool reconfigure(const config::DnsConfig& config, std::string* error);

    QueryHandler& handler() { return *handler_; }
    const QueryHandler& handler() const { return *handler_; }
    size_t tcpConnections() const;

  private:
    AddressSource addresses_;
    std::unique_ptr<QueryHandler> handler_;
    std::vector<std::shared_ptr<UdpListener>> udp_;
    std::vector<std::unique_ptr<TcpListener>> tcp_;
};

}  // namespace dynamo::resolver
