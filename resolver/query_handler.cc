#include "resolver/query_handler.h"

#include <utility>

#include "net/log.h"
#include "net/timeval.h"

namespace dynamo::resolver {
namespace {
constexpr uint8_t kOpcodeQuery = 0;
// A query is a question plus at most an OPT; 4096 bytes is far above any real one (a 255-byte
// name, an OPT with a cookie and padding to 468 bytes, RFC 8467) and bounds what a waiter in the
// forwarder holds (a TCP query may otherwise be 64 KiB).
constexpr size_t kMaxQuerySize = 4096;

// Whether a query's sections are what a query carries (RFC 1035 §4.1.1): nothing in answer or
// authority, and at most one additional record, the OPT (RFC 6891 §6.1.1). An OPT plus a TSIG
// or SIG(0) would make two; we refuse those too: a signed query is meaningless through a
// forwarder that holds no key and whose cache would serve the answer to unsigned queries, and
// LAN devices do not sign their queries.
bool hasQueryShape(std::span<const uint8_t> packet, const dns::Header& header) {
    return packet.size() <= kMaxQuerySize && header.ancount == 0 && header.nscount == 0 &&
           header.arcount <= 1;
}
}  // namespace

Forwarder::Settings QueryHandler::forwarderSettings(const config::DnsConfig& config) {
    Forwarder::Settings settings;
    settings.upstreams = config.upstreams;
    settings.timeout = config.upstreamTimeout;
    settings.policy = config.upstreamPolicy == config::UpstreamPolicy::Fastest
                          ? Forwarder::Settings::Policy::Fastest
                          : Forwarder::Settings::Policy::Ordered;
    settings.healthName = config.healthCheck.name;
    settings.healthType = config.healthCheck.type;
    settings.healthInterval = config.healthCheck.interval;
    return settings;
}

QueryHandler::QueryHandler(const config::DnsConfig& config, std::unique_ptr<Forwarder> forwarder,
                           dns::Clock clock, std::vector<net::IpAddress> hostAddresses)
    : allow_(config.allow),
      interceptor_(config.intercept),
      localRecords_(config),
      cache_(config.cacheSize, clock),
      forwarder_(std::move(forwarder)),
      hostAddresses_(std::move(hostAddresses)),
      clock_(clock ? std::move(clock) : [] { return std::chrono::steady_clock::now(); }) {
    applyConfig(config);
}

void QueryHandler::applyConfig(const config::DnsConfig& config) {
    cacheBasis_.upstreams = config.upstreams;
    cacheBasis_.intercept = config.intercept;
    cacheBasis_.records = config.records;
    cacheBasis_.recordsTtl = config.recordsTtl;
    cache_.setServeStale(config.serveStale.maxStale, config.serveStale.ttl);
    serveStale_ = config.serveStale.maxStale.count() > 0;
    clientTimeout_ = config.serveStale.clientTimeout;
    prefetch_ = config.prefetch;
}

namespace {
bool sameAnswer(const config::InterceptAnswer& a, const config::InterceptAnswer& b) {
    return a.mode == b.mode &&
           (a.mode != config::InterceptAnswer::Mode::Fixed || a.fixed == b.fixed);
}
}  // namespace

bool QueryHandler::cachedAnswersStillHold(const config::DnsConfig& next) const {
    const config::DnsConfig& now = cacheBasis_;
    return now.upstreams == next.upstreams && now.intercept.names == next.intercept.names &&
           sameAnswer(now.intercept.answerIpv4, next.intercept.answerIpv4) &&
           sameAnswer(now.intercept.answerIpv6, next.intercept.answerIpv6) &&
           now.intercept.ttl == next.intercept.ttl && now.records == next.records &&
           now.recordsTtl == next.recordsTtl;
}

bool QueryHandler::reconfigure(const config::DnsConfig& config, std::string* error) {
    if (!forwarder_->reconfigure(forwarderSettings(config), error))
        return false;
    const bool keepCache = cachedAnswersStillHold(config);
    allow_ = config.allow;
    interceptor_ = Interceptor(config.intercept);
    std::vector<AccountAddresses> accounts = localRecords_.accounts();
    localRecords_ = LocalRecords(config);
    localRecords_.setAccounts(std::move(accounts));
    cache_.setCapacity(config.cacheSize);
    applyConfig(config);
    // Other upstreams, interception or local names may change what a name resolves to; a
    // reload that changed none of them (a new token, another log level) keeps the cache, stale
    // entries included: a SIGHUP during an upstream outage must not take away the answers
    // serve-stale would give (RFC 8767 §5).
    if (!keepCache) {
        DLOG(Info) << "upstreams, interception or local names changed: DNS cache cleared";
        cache_.clear();
    }
    return true;
}

bool QueryHandler::handle(std::span<const uint8_t> packet, const QueryContext& context,
                          const ReplyTarget& reply) {
    ++(context.transport == Transport::Udp ? stats_.udpQueries : stats_.tcpQueries);

    // Answering a response or a runt would let two servers bounce packets forever.
    const auto header = dns::readHeader(packet);
    if (!header || header->qr()) {
        ++stats_.dropped;
        return false;
    }

    const dns::ParseResult parsed = dns::parse(packet);
    const dns::Message* query = parsed.message ? &*parsed.message : nullptr;

    if (!allow_.contains(context.client.ip())) {
        ++stats_.refused;
        reply(dns::errorResponse(packet, query, dns::Rcode::Refused));
        return true;
    }
    // Before parsing: RFC 8906 §8.1.4 probes unknown opcodes with a header-only query, which
    // is no QUERY we could parse but must still get NOTIMP, not FORMERR.
    if (header->opcode() != kOpcodeQuery) {
        ++stats_.notImp;
        reply(dns::notImpResponse(packet));
        return true;
    }
    if (query == nullptr) {
        ++stats_.formErr;
        reply(dns::errorResponse(packet, nullptr, dns::Rcode::FormErr));
        return true;
    }

    if (!hasQueryShape(packet, *header)) {
        ++stats_.formErr;
        reply(dns::errorResponse(packet, query, dns::Rcode::FormErr));
        return true;
    }

    // RFC 6891 §6.1.3: we implement EDNS version 0 only, and it is our cache, truncation and
    // interception that answer the client, so a higher version gets BADVERS from us, for
    // forwarded names too: the cache keys no version and would answer it as version 0
    // (RFC 8906 §6 warns whole-answer caches of exactly this), and the client then retries
    // with version 0 as §6.1.3 lets it.
    if (query->edns && query->edns->version > 0) {
        ++stats_.badVers;
        reply(dns::badVersResponse(packet, *query));
        return true;
    }

    if (interceptor_.matches(*query)) {
        ++stats_.intercepted;
        if (observer_ != nullptr) {
            dns::wireToPresentation(query->qnameWire, nameText_);
            observer_->interceptedQuery(context.client.ip(), nameText_);
        }
        answerBuffer_ = interceptor_.answer(packet, *query, context.local, hostAddresses_,
                                            std::move(answerBuffer_));
        answer(answerBuffer_, packet, *query, context, reply);
        return true;
    }

    // Before the cache: local answers depend on the client and on the newest accepted update,
    // which a cached copy would not follow.
    if (auto local = localRecords_.answer(packet, *query, context.client.ip())) {
        ++stats_.local;
        answer(*local, packet, *query, context, reply);
        return true;
    }

    bool wantsPrefetch = false;
    if (cache_.lookup(packet, *query, answerBuffer_, prefetch_ ? &wantsPrefetch : nullptr)) {
        ++stats_.cacheHits;
        answer(answerBuffer_, packet, *query, context, reply);
        if (wantsPrefetch)
            prefetch(packet);
        return true;
    }

    // RFC 8767 §4: a refresh of this entry failed moments ago (the failure recheck timer):
    // answer stale at once rather than make every client wait for a dead upstream again.
    const bool staleAtHand = serveStale_ && query->header.rd() && cache_.hasStale(*query);
    if (staleAtHand && cache_.refreshFailedRecently(*query) &&
        answerStale(packet, *query, context, reply)) {
        return true;
    }

    ++stats_.forwarded;
    Waiting& waiting = startWaiting();
    waiting.queryBytes.assign(packet.begin(), packet.end());
    waiting.query = *query;
    waiting.context = context;
    waiting.reply = reply.keep();
    // TC in a query says nothing (RFC 1035 §4.1.1: it marks a message cut to fit its channel,
    // and this one arrived whole); upstreams that refuse it (Unbound: FORMERR without OPT)
    // would make c-ares 1.18 retry a query cut short by 11 bytes (its EDNS fallback) and fail
    // at the timeout. Cleared, the query is the plain one, and is cached and coalesced as such.
    upstreamQuery_.assign(packet.begin(), packet.end());
    dns::clearFlags(upstreamQuery_, dns::flag::kTc);
    // A plain pointer (kept in std::function's own storage, no allocation): the waiting
    // client lives in waiting_ until the forwarder has called back and handle() is done.
    Waiting* const client = &waiting;
    auto onAnswer = [client](std::span<const uint8_t> upstream) {
        client->self->onUpstreamAnswer(upstream, *client);
        client->finished = true;
        if (!client->inHandle)
            client->self->finishWaiting(*client);
    };
    if (!forwarder_->forward(upstreamQuery_, onAnswer)) {
        finishWaiting(waiting);
        // Overloaded: stale data is better than SERVFAIL (RFC 8767 §4).
        if (staleAtHand && answerStale(packet, *query, context, reply))
            return true;
        ++stats_.servFail;
        reply(dns::errorResponse(packet, query, dns::Rcode::ServFail));
        return true;
    }
    if (staleAtHand && !waiting.finished && !waiting.answered && !forwarder_->anyUp()) {
        // Every upstream is marked down: waiting client_timeout would only delay the stale
        // answer; the question still goes out, as the refresh.
        if (answerStale(packet, *query, context, reply))
            waiting.answered = true;
    }
    if (staleAtHand && !waiting.finished && !waiting.answered) {
        // The client-response timer of RFC 8767 §4 (1.8 s suggested): the question keeps
        // going upstream to refresh the entry; the client gets the stale answer meanwhile.
        waiting.timer.reset(
            evtimer_new(forwarder_->base(), &QueryHandler::onClientTimeout, &waiting));
        const timeval timeout = net::toTimeval(clientTimeout_);
        evtimer_add(waiting.timer.get(), &timeout);
    }
    waiting.inHandle = false;
    if (waiting.finished)  // answered before forward() returned (a synchronous failure)
        finishWaiting(waiting);
    return true;
}

QueryHandler::Waiting& QueryHandler::startWaiting() {
    if (idleWaiting_.empty())
        idleWaiting_.emplace_back();
    waiting_.splice(waiting_.end(), idleWaiting_, idleWaiting_.begin());
    Waiting& waiting = waiting_.back();
    waiting.self = this;
    waiting.place = std::prev(waiting_.end());
    waiting.answered = waiting.finished = false;
    waiting.inHandle = true;
    return waiting;
}

void QueryHandler::finishWaiting(Waiting& waiting) {
    waiting.timer.reset();
    waiting.reply = nullptr;  // what it captured (the listener, weakly) goes now
    // A few dozen kept for the next burst, and not a large (TCP) query's buffer.
    constexpr size_t kIdleKept = 64;
    constexpr size_t kKeptBytes = 4096;
    if (idleWaiting_.size() < kIdleKept && waiting.queryBytes.capacity() <= kKeptBytes) {
        idleWaiting_.splice(idleWaiting_.begin(), waiting_, waiting.place);
    } else {
        waiting_.erase(waiting.place);
    }
}

void QueryHandler::setAccountAddresses(std::vector<AccountAddresses> accounts) {
    if (accounts == localRecords_.accounts())
        return;
    // Old and new names alike: a name an account dropped must not keep a stale copy either.
    std::vector<std::string> names = localRecords_.changingNames();
    localRecords_.setAccounts(std::move(accounts));
    const std::vector<std::string> now = localRecords_.changingNames();
    names.insert(names.end(), now.begin(), now.end());
    for (const std::string& name : names) {
        if (name.starts_with("*.")) {
            cache_.clear();  // a wildcard stands for names the cache cannot list
            return;
        }
        cache_.erase(name);
    }
}

void QueryHandler::onClientTimeout(evutil_socket_t, short, void* arg) {
    auto* waiting = static_cast<Waiting*>(arg);
    if (waiting->answered)
        return;
    if (waiting->self->answerStale(waiting->queryBytes, waiting->query, waiting->context,
                                   FunctionReply(waiting->reply))) {
        waiting->answered = true;
    }
    // Otherwise the entry went meanwhile: the client waits for the upstream answer or SERVFAIL.
}

bool QueryHandler::answerStale(std::span<const uint8_t> queryBytes, const dns::Message& query,
                               const QueryContext& context, const ReplyTarget& reply) {
    auto stale = cache_.lookupStale(queryBytes, query);
    if (!stale)
        return false;
    ++stats_.staleAnswers;
    answer(*stale, queryBytes, query, context, reply);
    return true;
}

void QueryHandler::prefetch(std::span<const uint8_t> queryBytes) {
    const auto now = clock_();
    if (now - prefetchSecond_ >= std::chrono::seconds(1)) {
        prefetchSecond_ = now;
        prefetchesThisSecond_ = 0;
    }
    // Bounded both ways: a prefetch is an optimisation and must never crowd out client
    // questions at the forwarder's in-flight bound.
    if (prefetchInFlight_ >= kMaxPrefetchInFlight || prefetchesThisSecond_ >= kMaxPrefetchPerSecond)
        return;
    std::vector<uint8_t> upstreamQuery(queryBytes.begin(), queryBytes.end());
    dns::clearFlags(upstreamQuery, dns::flag::kTc);
    auto onAnswer = [this, upstreamQuery](std::span<const uint8_t> upstream) {
        --prefetchInFlight_;
        const dns::ParseResult query = dns::parse(upstreamQuery);
        const dns::ParseResult parsed = dns::parse(upstream);
        // A failed prefetch changes nothing: the entry is still fresh, and a SERVFAIL is not
        // stored over it (DnsCache::store).
        if (query.message && parsed.message)
            cache_.store(*query.message, upstream, *parsed.message);
    };
    ++prefetchInFlight_;
    if (!forwarder_->forward(upstreamQuery, std::move(onAnswer))) {
        --prefetchInFlight_;
        return;
    }
    ++prefetchesThisSecond_;
    ++stats_.prefetches;
}

void QueryHandler::onUpstreamAnswer(std::span<const uint8_t> upstream, Waiting& waiting) {
    waiting.timer.reset();
    const std::vector<uint8_t>& queryBytes = waiting.queryBytes;
    const QueryContext& context = waiting.context;
    const FunctionReply reply(waiting.reply);
    const dns::Message& query = waiting.query;
    // Into a reused message (no allocation); it is not read after a reply, which may run a
    // nested handle() that parses into it again.
    const dns::Message* parsed =
        dns::parseInto(upstream, answerMessage_) ? &answerMessage_ : nullptr;
    const bool failed =
        parsed == nullptr || parsed->header.rcode() == static_cast<uint8_t>(dns::Rcode::ServFail);
    if (failed && serveStale_ && cache_.hasStale(query)) {
        // RFC 8767 §4: the upstreams failed; the entry stays (never evicted because a refresh
        // failed) and the client gets the stale answer, unless the timer gave it already.
        cache_.refreshFailed(query);
        if (!waiting.answered && answerStale(queryBytes, query, context, reply))
            waiting.answered = true;
        if (waiting.answered)
            return;
    }
    if (waiting.answered) {
        // Answered stale by the timer; this is the background refresh.
        if (parsed != nullptr)
            cache_.store(query, upstream, *parsed);
        return;
    }
    waiting.answered = true;
    if (parsed == nullptr) {
        if (!query.header.rd()) {
            // Recursion not desired (RFC 1034 §4.3.1): the upstream had nothing it would give
            // without recursing. A recursive upstream refuses such queries (Unbound, BIND
            // without cache snooping), and c-ares, skipping a REFUSED server, hands us only a
            // failure: the client gets the REFUSED it would have got asking directly. Never
            // cached: RD=0 says nothing about what a recursing upstream would answer.
            ++stats_.notRecursive;
            reply(dns::errorResponse(queryBytes, &query, dns::Rcode::Refused));
            return;
        }
        // Upstream timed out, failed, or sent something we cannot vouch for: SERVFAIL, never
        // silence (docs/dns.md#forwarding), cached briefly so a dead upstream is not hammered; only
        // for this query's key (RFC 2308 §7.1), which holds everything that changes the answer.
        ++stats_.servFail;
        const auto failure = dns::errorResponse(queryBytes, &query, dns::Rcode::ServFail);
        if (upstream.empty()) {
            if (auto reparsed = dns::parse(failure); reparsed.message) {
                cache_.store(query, failure, *reparsed.message);
            }
        }
        reply(failure);
        return;
    }
    if (parsed->header.rcode() == static_cast<uint8_t>(dns::Rcode::ServFail)) {
        ++stats_.servFail;
    }
    cache_.store(query, upstream, *parsed);
    answer(upstream, queryBytes, query, context, reply);
}

void QueryHandler::answer(std::span<const uint8_t> response, std::span<const uint8_t> queryBytes,
                          const dns::Message& query, const QueryContext& context,
                          const ReplyTarget& reply) {
    if (context.transport == Transport::Udp && response.size() > dns::maxUdpAnswerSize(query)) {
        ++stats_.truncated;
        const auto parsed = dns::parse(response);
        reply(parsed.message ? dns::truncated(response, *parsed.message)
                             : dns::errorResponse(queryBytes, &query, dns::Rcode::ServFail));
        return;
    }
    reply(response);
}

}  // namespace dynamo::resolver
