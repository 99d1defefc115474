#pragma once
// The DNS half of the daemon: the query handler and a UDP and a TCP listener on every
// dns.listen address.

#include <event2/event.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "resolver/query_handler.h"
#include "resolver/tcp_listener.h"
#include "resolver/udp_listener.h"

namespace dynamo::resolver {

class DnsServer {
  public:
    // Binds every listener; nullptr and *error (naming the address) when one cannot be bound.
    static std::unique_ptr<DnsServer> create(event_base* base, const config::DnsConfig& config,
                                             dns::Clock clock, std::string* error);

    // SIGHUP. Listen addresses are bound once: a change to dns.listen needs a restart (the
    // daemon may no longer have the privilege to bind port 53), and says so.
    bool reconfigure(const config::DnsConfig& config, std::string* error);

    QueryHandler& handler() { return *handler_; }
    const QueryHandler& handler() const { return *handler_; }
    size_t tcpConnections() const;

  private:
    std::unique_ptr<QueryHandler> handler_;
    std::vector<std::shared_ptr<UdpListener>> udp_;
    std::vector<std::unique_ptr<TcpListener>> tcp_;
    std::vector<net::SocketAddress> listen_;
};

// The host's interface addresses (getifaddrs), non-loopback first: the fallback answer for
// `answer_ipv4: auto` when a query arrives over the other address family.
std::vector<net::IpAddress> hostAddresses();

}  // namespace dynamo::resolver
