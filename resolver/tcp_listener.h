#pragma once
// DNS over TCP on one address: accepts connections up to a bound, in all and per client
// address, and owns them. At a bound a new connection takes the place of the one that has
// waited longest for its next query (trickling one in, or idle), never of one with an answer
// on the way: a host that holds many connections open cannot keep the others' queries out.

#include <event2/listener.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "net/accept_backoff.h"
#include "net/handles.h"
#include "net/socket_address.h"
#include "resolver/query_handler.h"
#include "resolver/tcp_connection.h"

namespace dynamo::resolver {

class TcpListener {
  public:
    static std::unique_ptr<TcpListener> create(event_base* base, const net::SocketAddress& address,
                                               QueryHandler& handler, std::string* error,
                                               TcpLimits limits = TcpLimits());
    ~TcpListener();
    // The bound address (port 0 resolved to the kernel's choice).
    net::SocketAddress boundAddress() const;
    size_t connections() const { return connections_.size(); }
    // Connections from outside dns.allow: answered once (REFUSED), then closed.
    uint64_t refusedConnections() const { return refused_; }
    // Connections closed at a bound (in all or per client): the new one, or the one it
    // replaced.
    uint64_t closedOverCap() const { return closedOverCap_; }
    // Answer bytes queued in user space over all connections (bounded per connection by
    // kOutputHighWater plus the answers in flight).
    size_t bufferedOutput() const;
    // The listener's EMFILE backoff (pauses()).
    const net::AcceptBackoff& backoff() const { return *backoff_; }

  private:
    TcpListener(event_base* base, QueryHandler& handler, net::SocketAddress address,
                TcpLimits limits)
        : base_(base), handler_(handler), address_(address), limits_(limits) {}
    static void onAccept(evconnlistener* listener, evutil_socket_t fd, sockaddr* from, int length,
                         void* arg);
    // Makes room for one more connection from client under both bounds, closing the longest
    // waiting connections; false when there is none to close (the new one is refused then).
    bool makeRoom(const net::IpAddress& client);
    // The connection (from client, or from anyone when null) that has waited longest for its
    // next query, among those waiting for one; null when none is.
    TcpConnection* longestWaiting(const net::IpAddress* client) const;
    void warnAtCap(const std::string& what);

    event_base* base_;
    QueryHandler& handler_;
    net::SocketAddress address_;
    TcpLimits limits_;
    net::ListenerPtr listener_;
    std::unique_ptr<net::AcceptBackoff> backoff_;  // after listener_: goes first
    std::unordered_map<TcpConnection*, std::shared_ptr<TcpConnection>> connections_;
    uint64_t refused_ = 0;
    uint64_t closedOverCap_ = 0;
    std::chrono::steady_clock::time_point lastCapWarning_{};
};

}  // namespace dynamo::resolver
