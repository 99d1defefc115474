#pragma once
// Sends client queries upstream through c-ares, byte for byte (RFC 5625): only the ID is
// replaced, by a random one, and the client's ID restored on the answer.
//
// Answers always come back whole: the channels run with ARES_FLAG_EDNS and a 4096-byte payload,
// so c-ares re-asks over TCP when an upstream sets TC, and the query handler truncates for each
// UDP client itself. Identical queries in flight are sent once (coalescing, RFC 5452 §5: c-ares
// 1.18 keeps one source port per server and channel, so the ID is most of the entropy), over a
// small pool of channels whose ports differ.
//
// One thread, one event_base, no locks.

#include <event2/event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/handles.h"
#include "net/socket_address.h"
#include "resolver/ares_channel.h"
#include "resolver/latency_histogram.h"

namespace dynamo::resolver {

class Forwarder {
  public:
    struct Settings {
        std::vector<net::SocketAddress> upstreams;
        std::chrono::milliseconds timeout{3000};  // total, from send to SERVFAIL
        size_t maxInFlight = 1024;                // distinct upstream queries
        size_t channels = 4;
    };
    // The answer with the client's ID, or an empty span when every upstream failed or timed out.
    using Done = std::function<void(std::span<const uint8_t> answer)>;

    struct Stats {
        uint64_t sent = 0;        // queries that went upstream
        uint64_t coalesced = 0;   // queries that joined one already in flight
        uint64_t failed = 0;      // timeouts and errors
        uint64_t overloaded = 0;  // refused at the in-flight bound
    };

    static std::unique_ptr<Forwarder> create(event_base* base, const Settings& settings,
                                             std::string* error);
    ~Forwarder();
    Forwarder(const Forwarder&) = delete;
    Forwarder& operator=(const Forwarder&) = delete;

    // False, with `done` untouched, when the in-flight bound is reached. Otherwise `done` runs
    // exactly once, possibly before forward() returns; never after the Forwarder is destroyed.
    bool forward(std::span<const uint8_t> query, Done done);

    // New upstreams or timeout (SIGHUP): new channels; the old ones finish what they carry.
    bool reconfigure(const Settings& settings, std::string* error);

    size_t inFlight() const { return pending_.size(); }
    const Stats& stats() const { return stats_; }
    // From send to answer, for answered queries (failures are counted in stats().failed).
    const LatencyHistogram& latency() const { return latency_; }

  private:
    struct Waiter {
        uint16_t clientId;
        Done done;
    };
    struct Pending {
        Forwarder* owner;
        AresChannel* channel;
        std::string key;
        std::vector<Waiter> waiters;
        std::chrono::steady_clock::time_point sentAt;
    };

    explicit Forwarder(event_base* base) : base_(base) {}
    std::unique_ptr<AresChannel> makeChannel(std::string* error) const;
    bool buildChannels(std::string* error);
    uint16_t randomId();
    void retire(AresChannel* channel);
    static void onAnswer(void* arg, int status, int timeouts, unsigned char* answer, int length);
    static void onCleanup(evutil_socket_t, short, void* arg);

    event_base* base_;
    Settings settings_;
    std::vector<std::unique_ptr<AresChannel>> channels_;
    std::vector<std::unique_ptr<AresChannel>> retired_;  // destroyed once idle, never in a callback
    size_t nextChannel_ = 0;
    std::unordered_map<std::string, std::unique_ptr<Pending>> pending_;
    std::vector<uint16_t> randomIds_;
    net::EventPtr cleanup_;
    bool destroying_ = false;
    Stats stats_;
    LatencyHistogram latency_;
};

}  // namespace dynamo::resolver
