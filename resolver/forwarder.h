#pragma once
// Sends client queries upstream through c-ares, byte for byte (RFC 5625): only the ID is
// replaced, by a random one, and the client's ID restored on the answer.
//
// Answers always come back whole: the channels run with ARES_FLAG_EDNS and a 4096-byte payload,
// so c-ares re-asks over TCP when an upstream sets TC, and the query handler truncates for each
// UDP client itself. Identical queries in flight are sent once (coalescing, RFC 5452 §5).
//
// Source ports (RFC 5452 §9.2: an unpredictable port per query, several ports for several
// outstanding queries): c-ares 1.18 opens a channel's UDP socket to a server on first use and
// keeps it, one source port, until the channel has no query left at all (ares_process.c:
// end_query), so a channel kept busy would send everything from one port and leave a spoofer
// little more than the 16-bit ID to guess. The channels are therefore a pool: a channel takes
// at most questionsPerPort new questions on its open sockets, then rests until c-ares has
// closed them; the next question on it opens a new socket, whose ephemeral port the kernel
// picks at random from ip_local_port_range (net/ipv4/udp.c: udp_lib_get_port). Channels are
// created when every one is resting, up to maxChannels, and reused once idle, so the miss path
// pays one socket()/connect()/close() per batch, not one ares_init_options(). The batch is
// 16: a socket's life (socket, connect, two epoll_ctl, close) cost as much kernel time as the
// questions themselves at 4 per port (a quarter of a miss's CPU, bench/), and at 16 a spoofer
// still faces a port drawn from ~28,000 for every 16 questions, far beyond the one long-lived
// port of a stock c-ares channel. Questions that come one after another, each answered
// before the next (a home network's pace, or a steady few thousand a second), would each have a
// socket of their own, since c-ares closes it as soon as its questions are answered: the
// channel keeps that socket open instead, for up to keepSocketIdle, so they too share a port
// 16 at a time (net/ares_sockets.h: the kept socket, closed at once if anything arrives on it
// meanwhile). When all maxChannels are resting (a flood of distinct misses), the least loaded
// one takes the question anyway (counted in Stats::portShares): forwarding degrades to shared
// ports, never to SERVFAIL.
//
// Bounds: maxInFlight distinct questions; maxWaitersPerQuestion clients joined to one of them;
// maxWaiters clients held in total (each holds a copy of its query). Past any bound forward()
// returns false and the caller answers SERVFAIL.
//
// Upstreams (docs/dns.md#upstream-selection): c-ares 1.18 tries its servers in order on every
// query and remembers nothing about which are dead, so each upstream has its own channel pool
// (every channel with that one server) and the forwarder picks the upstream: `ordered` takes the
// first one that is up (and returns to the first as soon as it is up again), `fastest` the one
// with the lowest smoothed latency. A question that times out, is refused, or gets SERVFAIL from
// one upstream is asked of the next within the same deadline. kDownAfter consecutive queries
// without an answer (timeouts, ICMP refused) mark an upstream down; while down it gets a probe
// (settings.healthName/healthType) every healthInterval, one at a time, and any answer marks it
// up. Both changes are logged once.
//
// A deadline per question (settings.timeout): c-ares restarts a query's timer when it switches
// to TCP after TC and when it retries without EDNS, so its own timeouts do not guarantee
// SERVFAIL "within the configured time" (docs/dns.md#forwarding). When the deadline passes first
// the waiters get their failure and the question moves to expired_, where the late c-ares callback
// (whose arg is the Pending*) finds it and only cleans up.
//
// One thread, one event_base, no locks.

#include <event2/event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <memory_resource>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/ares_channel.h"
#include "net/handles.h"
#include "net/socket_address.h"
#include "resolver/dns_stats.h"
#include "resolver/latency_histogram.h"

namespace dynamo::resolver {

class Forwarder {
  public:
    struct Settings {
        std::vector<net::SocketAddress> upstreams;
        std::chrono::milliseconds timeout{3000};  // total, from send to SERVFAIL
        size_t maxInFlight = 1024;                // distinct upstream queries, expired included
        size_t maxWaitersPerQuestion = 64;        // identical client queries joined to one
        size_t maxWaiters = 4096;                 // client queries held in total
        size_t questionsPerPort = 16;  // new questions per c-ares channel's sockets, see above
        size_t maxChannels = 64;       // c-ares channels per upstream, ~75 KB each
        std::chrono::milliseconds keepSocketIdle{1000};  // a port's wait for its next question
        enum class Policy { Ordered, Fastest } policy = Policy::Ordered;
        std::string healthName = ".";  // the probe of an upstream marked down
        uint16_t healthType = 2;       // NS
        std::chrono::milliseconds healthInterval{5000};
    };
    // Consecutive queries without any answer that mark an upstream down.
    static constexpr uint32_t kDownAfter = 3;

    // One upstream as /status shows it.
    struct UpstreamState {
        net::SocketAddress address;
        bool up = true;
        std::chrono::steady_clock::time_point since;  // of the current state
        uint64_t answers = 0;                         // any answer, SERVFAIL and REFUSED included
        uint64_t failures = 0;                        // timeouts and unreachable
        uint64_t probes = 0;                          // health checks sent while down
        LatencyHistogram latency;
    };
    // The answer with the client's ID, or an empty span when every upstream failed or timed out.
    using Done = std::function<void(std::span<const uint8_t> answer)>;

    using Stats = ForwarderStats;  // resolver/dns_stats.h

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

    event_base* base() const { return base_; }
    size_t inFlight() const { return pending_.size(); }
    // Client queries waiting for an answer (coalesced ones included).
    size_t waiters() const { return waiters_; }
    // Questions past their deadline whose c-ares query has not ended yet.
    size_t expiredInFlight() const { return expired_.size(); }
    // c-ares channels in the pools (created on demand, up to maxChannels per upstream).
    size_t channels() const;
    const Stats& stats() const { return stats_; }
    std::vector<UpstreamState> upstreams() const;
    // Upstream records a reload dropped that questions in flight still point at; freed as those
    // questions end.
    size_t formerUpstreams() const { return formerUpstreams_.size(); }
    // Whether some upstream is not marked down.
    bool anyUp() const;
    // From send to answer, for answered queries (failures are counted in stats().failed).
    const LatencyHistogram& latency() const { return latency_; }

  private:
    struct Waiter {
        uint16_t clientId;
        Done done;
    };
    struct Upstream {
        Forwarder* owner;
        UpstreamState state;
        std::vector<std::unique_ptr<net::AresChannel>> channels;
        size_t nextChannel = 0;
        uint32_t consecutiveFailures = 0;
        double smoothedRttUs = 0;  // 0: not measured yet, so `fastest` tries it
        net::EventPtr probeTimer;
        bool probing = false;
    };
    struct Pending {
        Forwarder* owner;
        net::AresChannel* channel;
        Upstream* upstream;
        std::string key;
        std::vector<Waiter> waiters;
        std::chrono::steady_clock::time_point sentAt;  // of the current attempt
        // SERVFAIL time: in the deadline list (ordered by it) while in pending_.
        std::chrono::steady_clock::time_point deadline;
        Pending* earlier = nullptr;
        Pending* later = nullptr;
        std::vector<uint8_t> query;    // for the next upstream
        std::vector<Upstream*> tried;  // in this question's attempts
        bool expired = false;          // in expired_, not pending_: waiters already answered
    };
    struct Probe {
        Forwarder* owner;
        Upstream* upstream;
        net::AresChannel* channel;
    };

    explicit Forwarder(event_base* base) : base_(base) {}
    std::unique_ptr<net::AresChannel> makeChannel(const net::SocketAddress& server,
                                                  std::string* error) const;
    bool buildChannels(std::string* error);
    // The channel for a new question to `upstream`: one whose sockets have carried fewer than
    // questionsPerPort questions (or are closed), else a new one, else the least loaded.
    net::AresChannel* pickChannel(Upstream& upstream);
    // The next upstream for a question that has tried `tried`; nullptr when none is left.
    Upstream* pickUpstream(const std::vector<Upstream*>& tried);
    void send(Pending& pending, Upstream& upstream);
    void markDown(Upstream& upstream, std::string_view why);
    void markUp(Upstream& upstream, std::string_view how);
    static void onProbeTimer(evutil_socket_t, short, void* arg);
    static void onProbeAnswer(void* arg, int status, int timeouts, unsigned char* answer,
                              int length);
    std::optional<uint16_t> randomId();
    void retire(net::AresChannel* channel);
    // Frees the former upstreams no question or probe refers to any more.
    void freeFormerUpstreams();
    // Answers every waiter of `pending` (an empty span = failure) and forgets them.
    void answerWaiters(Pending& pending, std::span<const uint8_t> answer);
    // A question record from spare_ (or a new one), and back there once its question ended.
    std::unique_ptr<Pending> takePending();
    void recycle(std::unique_ptr<Pending> pending);
    static void onAnswer(void* arg, int status, int timeouts, unsigned char* answer, int length);
    // One timer for every question's deadline, not a libevent timer allocated and armed per
    // question: the questions wait in a list ordered by deadline (appended at the end but for
    // a reload that shortened the timeout), the timer set for the first.
    void addDeadline(Pending& pending);
    void removeDeadline(Pending& pending);
    void armDeadlineTimer(std::chrono::steady_clock::time_point now);
    static void onDeadlineTimer(evutil_socket_t, short, void* arg);
    // The question's deadline passed: its waiters get SERVFAIL, it moves to expired_.
    void expire(Pending& pending);
    static void onCleanup(evutil_socket_t, short, void* arg);

    event_base* base_;
    Settings settings_;
    std::vector<std::unique_ptr<Upstream>> upstreams_;
    // Upstreams dropped by a reload: a question in flight may still point at one.
    std::vector<std::unique_ptr<Upstream>> formerUpstreams_;
    std::unordered_map<Probe*, std::unique_ptr<Probe>> probes_;
    std::vector<std::unique_ptr<net::AresChannel>>
        retired_;  // destroyed once idle, never in a callback
    // The miss path allocates nothing once warm: finished questions are kept for reuse with
    // their buffers (spare_), the coalescing index takes its nodes from a pool, keyed by the
    // question's own key, and the key to look up and the answer to hand out are built in
    // reused buffers.
    std::pmr::unsynchronized_pool_resource indexNodes_;
    std::pmr::unordered_map<std::string_view, std::unique_ptr<Pending>> pending_{&indexNodes_};
    std::unordered_map<Pending*, std::unique_ptr<Pending>> expired_;
    std::vector<std::unique_ptr<Pending>> spare_;
    std::string lookupKey_;
    std::vector<uint8_t> answerCopy_;
    size_t waiters_ = 0;
    std::vector<uint16_t> randomIds_;
    std::chrono::steady_clock::time_point lastEdnsWarning_{};
    net::EventPtr cleanup_;
    Pending* firstDeadline_ = nullptr;
    Pending* lastDeadline_ = nullptr;
    net::EventPtr deadlineTimer_;
    bool destroying_ = false;
    Stats stats_;
    LatencyHistogram latency_;
};

}  // namespace dynamo::resolver
