#include "resolver/query_handler.h"

#include <utility>

#include "net/log.h"

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
    return settings;
}

QueryHandler::QueryHandler(const config::DnsConfig& config, std::unique_ptr<Forwarder> forwarder,
                           dns::Clock clock, std::vector<net::IpAddress> hostAddresses)
    : allow_(config.allow),
      interceptor_(config.intercept),
      cache_(config.cacheSize, std::move(clock)),
      forwarder_(std::move(forwarder)),
      hostAddresses_(std::move(hostAddresses)) {}

bool QueryHandler::reconfigure(const config::DnsConfig& config, std::string* error) {
    if (!forwarder_->reconfigure(forwarderSettings(config), error))
        return false;
    allow_ = config.allow;
    interceptor_ = Interceptor(config.intercept);
    cache_.setCapacity(config.cacheSize);
    // Interception or upstreams may have changed what a name resolves to.
    cache_.clear();
    return true;
}

bool QueryHandler::handle(std::span<const uint8_t> packet, const QueryContext& context,
                          Reply reply) {
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
    if (query == nullptr) {
        ++stats_.formErr;
        reply(dns::errorResponse(packet, nullptr, dns::Rcode::FormErr));
        return true;
    }
    if (header->opcode() != kOpcodeQuery) {
        ++stats_.notImp;
        reply(dns::errorResponse(packet, query, dns::Rcode::NotImp));
        return true;
    }

    if (!hasQueryShape(packet, *header)) {
        ++stats_.formErr;
        reply(dns::errorResponse(packet, query, dns::Rcode::FormErr));
        return true;
    }

    if (interceptor_.matches(*query)) {
        ++stats_.intercepted;
        // We are the authority here, so the EDNS version is ours to check; forwarded queries
        // leave that to the upstream (RFC 5625: pass EDNS through).
        if (query->edns && query->edns->version > 0) {
            reply(dns::badVersResponse(packet, *query));
            return true;
        }
        answer(interceptor_.answer(packet, *query, context.local, hostAddresses_), packet, *query,
               context, reply);
        return true;
    }

    if (auto cached = cache_.lookup(packet, *query)) {
        ++stats_.cacheHits;
        answer(*cached, packet, *query, context, reply);
        return true;
    }

    ++stats_.forwarded;
    std::vector<uint8_t> queryBytes(packet.begin(), packet.end());
    auto onAnswer = [this, queryBytes, context, reply](std::span<const uint8_t> upstream) {
        onUpstreamAnswer(upstream, queryBytes, context, reply);
    };
    if (!forwarder_->forward(packet, std::move(onAnswer))) {
        ++stats_.servFail;
        reply(dns::errorResponse(packet, query, dns::Rcode::ServFail));
    }
    return true;
}

void QueryHandler::onUpstreamAnswer(std::span<const uint8_t> upstream,
                                    const std::vector<uint8_t>& queryBytes,
                                    const QueryContext& context, const Reply& reply) {
    const dns::ParseResult query = dns::parse(queryBytes);  // parsed before: cannot fail
    const dns::ParseResult parsed = dns::parse(upstream);
    if (!parsed.message) {
        // Upstream timed out, failed, or sent something we cannot vouch for: SERVFAIL, never
        // silence (SPEC §5), cached briefly so a dead upstream is not hammered.
        ++stats_.servFail;
        const auto failure = dns::errorResponse(queryBytes, &*query.message, dns::Rcode::ServFail);
        if (upstream.empty()) {
            if (auto reparsed = dns::parse(failure); reparsed.message) {
                cache_.store(*query.message, failure, *reparsed.message);
            }
        }
        reply(failure);
        return;
    }
    if (parsed.message->header.rcode() == static_cast<uint8_t>(dns::Rcode::ServFail)) {
        ++stats_.servFail;
    }
    cache_.store(*query.message, upstream, *parsed.message);
    answer(upstream, queryBytes, *query.message, context, reply);
}

void QueryHandler::answer(std::span<const uint8_t> response, std::span<const uint8_t> queryBytes,
                          const dns::Message& query, const QueryContext& context,
                          const Reply& reply) {
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
