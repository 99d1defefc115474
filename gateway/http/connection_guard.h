#pragma once
// Bounds what evhttp 2.1 leaves unbounded: how many HTTP connections are open at once, and how
// long one may live. evhttp's timeout is an idle timeout that every byte restarts, and
// dns.allow is checked only once a whole request is in, so any host that reaches the port
// could trickle a byte every few seconds (slowloris) and hold a descriptor for ever; enough of
// them starve the devices and the token-API client of descriptors.
//
// evhttp has no hook for a connection's end, but builds every connection on the bufferevent
// HttpServer's bevcb returns: admit() takes a reference to it. bufferevent_free() (evhttp
// freeing the connection) clears its callbacks; that is how a sweep tells a finished
// connection from a live one and drops the reference (the socket closes then, with
// BEV_OPT_CLOSE_ON_FREE, so its number cannot be reused while we hold it). A live connection
// past its lifetime, or one over the cap, is shut down with shutdown(2): evhttp reads EOF and
// frees it along its own paths, close callbacks included. A connection whose request waits for
// our answer has reading off and is left alone (dynamo.timeout bounds that wait), and so is one
// whose answer is still being written.
//
// One thread, one event_base.

#include <event2/bufferevent.h>
#include <event2/event.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "net/handles.h"

namespace dynamo::gateway {

class HttpConnectionGuard {
  public:
    struct Limits {
        size_t maxConnections = 256;
        // Well above what a device needs for a request or two on one connection, and above
        // evhttp's 20 s idle timeout.
        std::chrono::milliseconds maxLifetime = std::chrono::seconds(60);
        std::chrono::milliseconds sweepInterval = std::chrono::seconds(1);
    };

    HttpConnectionGuard(event_base* base, Limits limits);
    HttpConnectionGuard(const HttpConnectionGuard&) = delete;
    HttpConnectionGuard& operator=(const HttpConnectionGuard&) = delete;

    // A new connection's bufferevent, from the bevcb (its socket is set right after).
    void admit(bufferevent* bev);

    size_t tracked() const { return entries_.size(); }
    uint64_t refused() const { return refused_; }
    uint64_t expired() const { return expired_; }

  private:
    struct Entry {
        net::BufferEventRef bev;
        std::chrono::steady_clock::time_point admitted;
        bool refuse = false;
        bool shut = false;
    };

    static void onSweep(evutil_socket_t, short, void* arg);
    void sweep();
    void dropFinished();
    void armSweep();

    Limits limits_;
    net::EventPtr sweepTimer_;
    std::vector<Entry> entries_;
    uint64_t refused_ = 0;
    uint64_t expired_ = 0;
    std::chrono::steady_clock::time_point lastCapWarning_{};
};

}  // namespace dynamo::gateway
