#pragma once
// One c-ares channel driven by our libevent loop, the way Envoy does it: c-ares tells us which
// sockets it wants watched (ARES_OPT_SOCK_STATE_CB), we keep an fd → event map and call
// ares_process_fd() when one fires, and a single timer is re-armed from ares_timeout() after
// every call into c-ares. One thread, one event_base, no locks.
//
// Lifetime: the destructor calls ares_destroy(), which runs every pending callback with
// ARES_EDESTRUCTION. Never destroy a channel from inside one of its own callbacks.

#include <ares.h>
#include <event2/event.h>

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/ares_sockets.h"
#include "net/handles.h"
#include "net/socket_address.h"

namespace dynamo::net {

// Brings c-ares' global state up once per process (ares_library_init).
void initAresLibrary();

class AresChannel {
  public:
    struct Options {
        std::vector<SocketAddress> servers;  // never empty: c-ares would fall back to 127.0.0.1
        std::chrono::milliseconds timeout{1000};  // per try; c-ares doubles it each round
        int tries = 2;
        int flags = 0;            // ARES_FLAG_*
        int ednsPayloadSize = 0;  // with ARES_FLAG_EDNS
        // A UDP socket c-ares closes after fewer than keepSocketFor questions on the channel's
        // sockets is kept open for the next question, up to keepIdle (net/ares_sockets.h).
        // 0: c-ares' own way, a new socket whenever the channel was idle.
        size_t keepSocketFor = 0;
        std::chrono::milliseconds keepIdle{1000};
    };

    // nullptr and *error set when c-ares refuses the options.
    static std::unique_ptr<AresChannel> create(event_base* base, const Options& options,
                                               std::string* error);
    ~AresChannel();
    AresChannel(const AresChannel&) = delete;
    AresChannel& operator=(const AresChannel&) = delete;

    // ares_send(): the bytes go out verbatim, their ID included. The callback may run before
    // send() returns (c-ares fails some queries synchronously).
    void send(std::span<const uint8_t> query, ares_callback callback, void* arg);
    ares_channel get() const { return channel_; }
    // Re-arms the timer; call after using get() directly (ares_getaddrinfo and friends).
    void afterCall() { rearmTimer(); }

    // c-ares clears ARES_FLAG_EDNS for the whole channel when one server answers FORMERR
    // without OPT (ares_process.c, 1.18): the caller rebuilds such a channel.
    bool lostEdns() const;
    // Queries sent on this channel whose callback has not run yet (kept by the caller).
    size_t pending() const { return pending_; }
    void queryStarted() { ++pending_; }
    void queryEnded() { --pending_; }

    // Sockets c-ares holds open (UDP and TCP, every server), and the one kept for it. c-ares
    // 1.18 opens a server's UDP socket on the first query to it and closes every socket of the
    // channel only when the channel has no query left (ares_process.c: end_query), so a send()
    // while this is 0 leaves from a fresh socket, with a fresh ephemeral port chosen by the
    // kernel.
    size_t openSockets() const { return socketEvents_.size() + (sockets_->holdsKept() ? 1 : 0); }
    // send() calls since the channel last had no socket open: the questions that share the
    // current sockets' source ports.
    size_t sendsOnOpenSockets() const { return sendsOnOpenSockets_; }

  private:
    explicit AresChannel(event_base* base) : base_(base) {}
    static void onSocketState(void* data, ares_socket_t fd, int readable, int writable);
    static void onSocketEvent(evutil_socket_t fd, short what, void* arg);
    static void onTimer(evutil_socket_t fd, short what, void* arg);
    void rearmTimer();
    // The channel's flags through ares_save_options(), and read in place from c-ares' channel
    // structure (only once create() found the two agree: flagsReadable_).
    std::optional<int> savedFlags() const;
    int firstField() const;

    event_base* base_;
    ares_channel channel_ = nullptr;
    int requestedFlags_ = 0;
    bool flagsReadable_ = false;
    EventPtr timer_;
    std::chrono::steady_clock::time_point timerDue_{};  // when timer_ fires, while it is set
    std::unique_ptr<AresSockets> sockets_;              // c-ares' socket calls (net/ares_sockets.h)
    std::unordered_map<ares_socket_t, EventPtr> socketEvents_;
    size_t pending_ = 0;
    size_t sendsOnOpenSockets_ = 0;
    size_t keepSocketFor_ = 0;
};

// "1.2.3.4:53,[::1]:53" as ares_set_servers_ports_csv() wants it.
std::string serversCsv(const std::vector<SocketAddress>& servers);

}  // namespace dynamo::net
