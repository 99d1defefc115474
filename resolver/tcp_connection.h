#pragma once
// One DNS-over-TCP client connection (RFC 7766): 2-byte length framing, several queries per
// connection, answered as they complete (§6.2.1.1 allows out-of-order answers), an idle
// timeout while nothing is in flight (§6.2.3), and a bound on queries in flight per connection
// (reading pauses at the bound, so one client cannot queue unbounded work).
//
// Owned by its TcpListener through shared_ptr; answers hold a weak_ptr, so one that arrives
// after the client left is dropped.

#include <event2/bufferevent.h>

#include <chrono>
#include <functional>
#include <memory>

#include "net/handles.h"
#include "net/socket_address.h"
#include "resolver/query_handler.h"

namespace dynamo::resolver {

struct TcpLimits {
    // Past this many open connections new ones are closed at once (RFC 7766 §6.2.2 lets a
    // server shed load so); a home network needs a handful.
    size_t maxConnections = 128;
    size_t maxInFlightPerConnection = 32;
    std::chrono::milliseconds idleTimeout{10000};
};

class TcpConnection : public std::enable_shared_from_this<TcpConnection> {
  public:
    enum class State {
        Reading,   // reading queries, answering them as they complete
        Draining,  // the client closed its side: finish answers in flight, then close
        Closed,
    };
    using OnClosed = std::function<void(TcpConnection*)>;

    TcpConnection(event_base* base, net::UniqueFd fd, QueryContext context, QueryHandler& handler,
                  TcpLimits limits, OnClosed onClosed);
    void start();
    void close();
    State state() const { return state_; }

  private:
    static void onRead(bufferevent* bev, void* arg);
    static void onWrite(bufferevent* bev, void* arg);
    static void onEvent(bufferevent* bev, short what, void* arg);
    void readQueries();
    void sendAnswer(std::span<const uint8_t> answer);
    void closeIfDone();

    net::BufferEventPtr bev_;
    QueryContext context_;
    QueryHandler& handler_;
    TcpLimits limits_;
    OnClosed onClosed_;
    State state_ = State::Reading;
    size_t inFlight_ = 0;
    bool readingQueries_ = false;
};

}  // namespace dynamo::resolver
