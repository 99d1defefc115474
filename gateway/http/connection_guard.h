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
// Bounds (the connection being known by its bufferevent's callbacks, as evhttp 2.1.12 sets
// them; see connection_guard.cc):
//  - a request must be in whole requestTimeout after the connection opened or after the
//    previous answer was sent; evhttp's idle timeout restarts on every byte, so it is no bound
//    on a client that trickles a byte every few seconds (slowloris);
//  - at most maxConnections in all and maxConnectionsPerClient from one address. Over a bound
//    the connection that has been reading its request longest goes, the new one included
//    (it goes last): a host holding connections open cannot keep a device's update out, it
//    only loses its own oldest. A connection whose request waits for our answer, or whose
//    answer is being written, never goes;
//  - a request head (request line, fields, line endings) larger than maxHeadBytes, or with two
//    different Content-Length values (RFC 9112 §6.3: unrecoverable framing error), gets 400
//    and the connection closes. evhttp counts header bytes without their line endings and
//    takes the first Content-Length; the guard watches the bytes as they come in (an evbuffer
//    callback, ahead of evhttp's parser) and on a bad head sets the connection's header bound
//    to 0, so evhttp's own parser answers 400 and closes.
//
// One thread, one event_base.

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/handles.h"
#include "net/socket_address.h"

namespace dynamo::gateway {

class HttpConnectionGuard {
  public:
    struct Limits {
        size_t maxConnections = 256;
        // Well above what a device needs for a request or two on one connection, and above
        // evhttp's 20 s idle timeout.
        std::chrono::milliseconds maxLifetime = std::chrono::seconds(60);
        std::chrono::milliseconds sweepInterval = std::chrono::seconds(1);
        // An eighth of maxConnections: one host cannot fill the table, eight are needed. A
        // device updates over one connection at a time; a router forwarding a whole network
        // from one address (NAT) still gets 32.
        size_t maxConnectionsPerClient = 32;
        // A device on the LAN sends its request in one segment, an old TLS stack shakes hands
        // in a second or two.
        std::chrono::milliseconds requestTimeout = std::chrono::seconds(10);
        size_t maxHeadBytes = 8 * 1024;
    };

    HttpConnectionGuard(event_base* base, Limits limits);
    HttpConnectionGuard(const HttpConnectionGuard&) = delete;
    HttpConnectionGuard& operator=(const HttpConnectionGuard&) = delete;

    // A new connection's bufferevent, from the bevcb (its socket is set right after).
    void admit(bufferevent* bev);
    // evhttp has read a whole request on bev: it waits for our answer now, and the next
    // request's deadline starts once evhttp reads again.
    void requestRead(bufferevent* bev);

    size_t tracked() const { return entries_.size(); }
    // The client address of the connection on socket `fd`, as the first sweep after its admit
    // read it (before any of its bytes were read); nullopt when unknown.
    std::optional<net::IpAddress> clientOf(evutil_socket_t fd) const;
    uint64_t refused() const { return refused_; }
    uint64_t expired() const { return expired_; }

    // What the guard knows of a request head from its bytes alone.
    class HeadScanner {
      public:
        enum class Verdict { More, Done, TooLarge, ConflictingLength };
        explicit HeadScanner(size_t maxBytes) : maxBytes_(maxBytes) {}
        void reset() { *this = HeadScanner(maxBytes_); }
        // The next bytes of the stream; Done once the empty line ending the head is in
        // (bytes after it are the body's, or the next request's: not looked at).
        Verdict feed(const char* data, size_t length);
        Verdict verdict() const { return verdict_; }

      private:
        void endLine();

        size_t maxBytes_;
        size_t bytes_ = 0;
        bool firstLine_ = true;
        std::string line_;  // the current line's first bytes: enough for a Content-Length
        bool lineTruncated_ = false;
        std::optional<std::string> contentLength_;
        Verdict verdict_ = Verdict::More;
    };

  private:
    struct Entry {
        Entry(HttpConnectionGuard* owner, bufferevent* buffer, size_t maxHeadBytes);
        ~Entry();
        Entry(const Entry&) = delete;
        Entry& operator=(const Entry&) = delete;

        HttpConnectionGuard* guard;
        net::BufferEventRef bev;
        evbuffer_cb_entry* inputWatch = nullptr;
        std::chrono::steady_clock::time_point admitted;
        // Since when it reads its current request: opened, or first seen reading after its
        // previous request was read. Unset while a request waits for (or writes) its answer.
        std::optional<std::chrono::steady_clock::time_point> readingSince;
        std::optional<net::IpAddress> client;  // known at the first sweep
        bool shut = false;
        HeadScanner head;
    };

    static void onSweep(evutil_socket_t, short, void* arg);
    static void onInput(evbuffer* buffer, const evbuffer_cb_info* info, void* arg);
    void scan(Entry& entry, evbuffer* input, size_t from);
    void sweep();
    // The bounds on connections in all and per client; the longest reading go first.
    void enforceBounds();
    void shut(Entry& entry);
    void dropFinished();
    void armSweep();

    Limits limits_;
    net::EventPtr sweepTimer_;
    std::vector<std::unique_ptr<Entry>> entries_;
    uint64_t refused_ = 0;
    uint64_t expired_ = 0;
    std::chrono::steady_clock::time_point lastCapWarning_{};
    std::chrono::steady_clock::time_point lastClientCapWarning_{};
};

}  // namespace dynamo::gateway
