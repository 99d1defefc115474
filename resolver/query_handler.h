#pragma once
// The one transport-neutral entry point for a DNS query, as dnsdist's processQuery(): the UDP
// and TCP listeners are thin adapters around handle(). A query is dropped, answered at once
// (REFUSED, FORMERR, NOTIMP, an intercepted name, a cache hit) or passed to the forwarder.
//
//   udp_listener / tcp_connection → QueryHandler::handle()
//     → intercept | local names | cache | forwarder
//
// One thread, one event_base, no locks.

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "net/cidr.h"
#include "net/handles.h"
#include "net/socket_address.h"
#include "resolver/client_observer.h"
#include "resolver/dns_cache.h"
#include "resolver/dns_message.h"
#include "resolver/dns_stats.h"
#include "resolver/forwarder.h"
#include "resolver/intercept.h"
#include "resolver/local_records.h"

namespace dynamo::resolver {

enum class Transport { Udp, Tcp };

struct QueryContext {
    net::SocketAddress client;
    net::IpAddress local;  // the address the query arrived on (IP_PKTINFO or getsockname)
    Transport transport;
};

using Reply = std::function<void(std::span<const uint8_t> answer)>;

// Where a query's answer goes. A listener makes one per query on its stack: answering at once
// (an intercepted name, a cache hit, an error) then costs no std::function and no heap; only a
// query that waits for the upstreams asks keep() for a callable that outlives handle().
class ReplyTarget {
  public:
    virtual void operator()(std::span<const uint8_t> answer) const = 0;
    virtual Reply keep() const = 0;

  protected:
    ~ReplyTarget() = default;
};

// A std::function as a ReplyTarget (TCP connections, tests, answers from a waiting query).
class FunctionReply final : public ReplyTarget {
  public:
    explicit FunctionReply(const Reply& reply) : reply_(reply) {}
    void operator()(std::span<const uint8_t> answer) const override { reply_(answer); }
    Reply keep() const override { return reply_; }

  private:
    const Reply& reply_;
};

class QueryHandler {
  public:
    using Reply = resolver::Reply;

    QueryHandler(const config::DnsConfig& config, std::unique_ptr<Forwarder> forwarder,
                 dns::Clock clock, std::vector<net::IpAddress> hostAddresses);

    // False for a dropped packet, whose `reply` never runs; otherwise `reply` runs exactly
    // once, perhaps before handle() returns. The caller keeps whatever `reply` captures alive
    // or guards it (weak_ptr).
    bool handle(std::span<const uint8_t> packet, const QueryContext& context, Reply reply) {
        return handle(packet, context, FunctionReply(reply));
    }
    bool handle(std::span<const uint8_t> packet, const QueryContext& context,
                const ReplyTarget& reply);

    // SIGHUP: access list, interception, cache size and upstreams from a new valid config.
    bool reconfigure(const config::DnsConfig& config, std::string* error);

    // The host's addresses for `answer_ipv4/ipv6: auto`, read again on SIGHUP.
    void setHostAddresses(std::vector<net::IpAddress> addresses) {
        hostAddresses_ = std::move(addresses);
    }

    // After an accepted update: devices look their own name up to confirm it
    // (docs/updates.md#cache-after-an-update).
    size_t forgetName(std::string_view name) { return cache_.erase(name); }

    // The accounts' accepted addresses and update sources, for local names
    // (docs/dns.md#local-names): the daemon calls this after every accepted update and every answer
    // of the service. Every change drops the cached answers of the names it can alter.
    void setAccountAddresses(std::vector<AccountAddresses> accounts);
    const LocalRecords& localRecords() const { return localRecords_; }

    // Whether `client` is inside dns.allow (IPv4-mapped IPv6 matches the IPv4 ranges).
    bool allows(const net::IpAddress& client) const { return allow_.contains(client); }

    // Told of every allowed client that asks for an intercepted name; nullptr for none. The
    // observer outlives the handler or is reset first.
    void setClientObserver(ClientObserver* observer) { observer_ = observer; }

    const DnsStats& stats() const { return stats_; }
    const dns::DnsCache& cache() const { return cache_; }
    const Forwarder& forwarder() const { return *forwarder_; }

    static Forwarder::Settings forwarderSettings(const config::DnsConfig& config);

  private:
    // Sends `response`, cut to TC=1 when a UDP client cannot take it whole.
    void answer(std::span<const uint8_t> response, std::span<const uint8_t> queryBytes,
                const dns::Message& query, const QueryContext& context, const ReplyTarget& reply);
    // A client whose question went upstream. With a stale answer at hand (RFC 8767 §4) the
    // client timer answers it stale; whichever comes first, timer or upstream, answers it.
    struct Waiting {
        QueryHandler* self = nullptr;
        std::vector<uint8_t> queryBytes;
        dns::Message query;  // queryBytes parsed, kept so the answer does not parse them again
        QueryContext context;
        Reply reply;
        bool answered = false;
        bool inHandle = false;  // handle() still uses it: released there, not by the answer
        bool finished = false;  // the forwarder has called back
        net::EventPtr timer;
        std::list<Waiting>::iterator place;  // in waiting_
    };
    // From idleWaiting_ (buffers and all) or new, into waiting_; back once finished.
    Waiting& startWaiting();
    void finishWaiting(Waiting& waiting);
    void onUpstreamAnswer(std::span<const uint8_t> answer, Waiting& waiting);
    // Answers from the stale entry; false when it is gone (evicted meanwhile).
    bool answerStale(std::span<const uint8_t> queryBytes, const dns::Message& query,
                     const QueryContext& context, const ReplyTarget& reply);
    static void onClientTimeout(evutil_socket_t, short, void* arg);
    // Prefetch: refreshes a popular entry in the background, within kMaxPrefetchInFlight and
    // kMaxPrefetchPerSecond.
    void prefetch(std::span<const uint8_t> queryBytes);
    void applyConfig(const config::DnsConfig& config);
    // Whether `next` keeps every cached answer right: same upstreams, interception and local
    // records as the configuration the cache was filled under.
    bool cachedAnswersStillHold(const config::DnsConfig& next) const;

    static constexpr size_t kMaxPrefetchInFlight = 16;
    static constexpr uint32_t kMaxPrefetchPerSecond = 20;

    // Before forwarder_, so destroyed after it: a forwarder being destroyed calls no waiter, and
    // the clients it held are freed here.
    std::list<Waiting> waiting_;
    std::list<Waiting> idleWaiting_;
    std::vector<uint8_t> upstreamQuery_;  // the query as sent upstream (TC cleared), reused
    dns::Message answerMessage_;          // the upstream's answer parsed, reused
    net::CidrSet allow_;
    Interceptor interceptor_;
    LocalRecords localRecords_;
    dns::DnsCache cache_;
    std::unique_ptr<Forwarder> forwarder_;
    std::vector<net::IpAddress> hostAddresses_;
    bool prefetch_ = false;
    std::chrono::milliseconds clientTimeout_{1800};
    bool serveStale_ = true;
    size_t prefetchInFlight_ = 0;
    std::chrono::steady_clock::time_point prefetchSecond_{};
    uint32_t prefetchesThisSecond_ = 0;
    dns::Clock clock_;
    // The keys of the applied configuration that decide what a cached answer says.
    config::DnsConfig cacheBasis_;
    DnsStats stats_;
    ClientObserver* observer_ = nullptr;
    // Reused from query to query, so the intercepted and cache-hit paths allocate nothing: the
    // answer handed to `reply` (which copies or sends it before returning; a handle() nested in
    // a reply may reuse it afterwards) and the intercepted name for the observer.
    std::vector<uint8_t> answerBuffer_;
    std::string nameText_;
};

}  // namespace dynamo::resolver
