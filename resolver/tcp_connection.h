#pragma once
// One DNS-over-TCP client connection (RFC 7766): 2-byte length framing, several queries per
// connection, answered as they complete (§6.2.1.1 allows out-of-order answers), an idle
// timeout while nothing is in flight (§6.2.3), a deadline for each query to arrive whole once
// its first byte is in (the idle timeout restarts on every byte, so a client trickling a byte
// every few seconds would never meet it), and a bound on queries in flight per connection
// (reading pauses at the bound, so one client cannot queue unbounded work). Reading also pauses
// while more than kOutputHighWater bytes of answers wait to be sent, and resumes once they
// drain below kOutputLowWater: a client that pipelines queries for a large (cached) answer and
// never reads would otherwise grow the output buffer without limit, since a query stops
// counting as in flight when its answer is queued, not when it is sent.
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
    // At this many open connections a new one takes the place of the one that has waited
    // longest for its next query (idle, or trickling one in); when every one has an answer on
    // the way, the new one is closed at once (RFC 7766 §6.2.3 lets a server close idle
    // connections under load). A home network needs a handful.
    size_t maxConnections = 128;
    size_t maxInFlightPerConnection = 32;
    std::chrono::milliseconds idleTimeout{10000};
    // Queries taken from one connection before it is answered out and closed; 0 = no limit.
    size_t maxQueries = 0;
    // Reading stops this long after the connection opened, busy or not, and it closes once
    // its answers are out; 0 = no limit. A client that keeps a connection (RFC 7766 §6.2.1)
    // opens another.
    std::chrono::milliseconds lifetime{60000};
    // Connections from one client address, counted as the global bound is (the newest take
    // the place of that address's longest waiting): one host cannot fill the table, eight are
    // needed. A device opens TCP only for a truncated answer, a few at once at most; a router
    // forwarding a whole network from one address still gets 16.
    size_t maxConnectionsPerClient = 16;
    // A query must be in whole this long after its first byte arrived (a LAN client sends it
    // in one segment); 0 = no limit.
    std::chrono::milliseconds queryTimeout{5000};
};

// Answers queued beyond this stop reading; below the low mark reading resumes. At most
// maxInFlightPerConnection answers (64 KiB each at most) can land above the high mark.
inline constexpr size_t kOutputHighWater = 64 * 1024;
inline constexpr size_t kOutputLowWater = 16 * 1024;

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
    const QueryContext& context() const { return context_; }
    // Reading, with no answer on the way nor one being written: idle, or a query partly in.
    // Such a connection may be closed to make room for a new one.
    bool waitingForQuery() const;
    // Since when it waits for its next query: opened, or the last query was taken.
    std::chrono::steady_clock::time_point waitingSince() const { return waitingSince_; }
    // Answer bytes queued in user space, not yet handed to the kernel.
    size_t bufferedOutput() const;

  private:
    static void onRead(bufferevent* bev, void* arg);
    static void onWrite(bufferevent* bev, void* arg);
    static void onEvent(bufferevent* bev, short what, void* arg);
    static void onLifetimeOver(evutil_socket_t, short, void* arg);
    static void onQueryTimeout(evutil_socket_t, short, void* arg);
    // Arms the query deadline when part of a query is in (and it is not armed), disarms it
    // when none is.
    void watchPartialQuery(bool partial);
    void readQueries();
    void sendAnswer(std::span<const uint8_t> answer);
    void closeIfDone();
    bool outputFull() const { return bufferedOutput() >= kOutputHighWater; }
    // Re-enables reading when neither bound holds it back (Reading state only).
    void resumeReading();

    net::BufferEventPtr bev_;
    net::EventPtr lifetime_;
    net::EventPtr queryDeadline_;
    QueryContext context_;
    QueryHandler& handler_;
    TcpLimits limits_;
    OnClosed onClosed_;
    State state_ = State::Reading;
    size_t inFlight_ = 0;
    bool readingQueries_ = false;
    size_t queriesTaken_ = 0;
    std::chrono::steady_clock::time_point waitingSince_ = std::chrono::steady_clock::now();
};

}  // namespace dynamo::resolver
