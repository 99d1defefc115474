#pragma once
// The resolver's counters as plain data: what QueryHandler::stats() and Forwarder::stats() return,
// in a header of their own so the status page (gateway/status) can hold a copy without including
// the classes that keep them (and with them c-ares, libevent and the config).

#include <cstdint>

namespace dynamo::resolver {

// Counters for /metrics and /status; untrusted input is answered and counted, never logged at
// the default level.
struct DnsStats {
    uint64_t udpQueries = 0;
    uint64_t tcpQueries = 0;
    uint64_t dropped = 0;  // shorter than a header, or QR=1
    uint64_t refused = 0;  // outside dns.allow
    uint64_t formErr = 0;  // did not parse
    uint64_t notImp = 0;   // opcode other than QUERY
    uint64_t badVers = 0;  // EDNS version above 0 (RFC 6891 §6.1.3)
    uint64_t intercepted = 0;
    uint64_t local = 0;  // answered from dns.records or an account's names
    uint64_t cacheHits = 0;
    uint64_t forwarded = 0;     // went to the forwarder (cache misses)
    uint64_t servFail = 0;      // upstream failed, timed out or we were overloaded
    uint64_t truncated = 0;     // answers cut to TC=1 for a UDP client
    uint64_t staleAnswers = 0;  // answered from an expired entry (RFC 8767)
    uint64_t prefetches = 0;    // background refreshes of popular entries started
    uint64_t notRecursive = 0;  // RD=0 queries the upstream gave nothing for: REFUSED
};

// Forwarder::Stats.
struct ForwarderStats {
    uint64_t sent = 0;        // queries that went upstream
    uint64_t coalesced = 0;   // queries that joined one already in flight
    uint64_t failed = 0;      // timeouts and errors
    uint64_t overloaded = 0;  // refused at an in-flight or waiter bound
    uint64_t expired = 0;     // failed by our deadline before c-ares gave up (also failed)
    uint64_t ednsLost = 0;    // channels rebuilt after c-ares dropped ARES_FLAG_EDNS
    uint64_t portShares = 0;  // sent past questionsPerPort: every channel was busy
};

}  // namespace dynamo::resolver
