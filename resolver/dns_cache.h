#pragma once
// The answer cache (docs/dns.md#cache): TTL-respecting, size-bounded LRU, answers served with
// decremented TTLs, negative answers cached per RFC 2308, SERVFAIL for a few seconds at most. Pure
// code: time comes from an injected clock, so expiry is tested without sleeping.
//
// Serve-stale (RFC 8767, docs/dns.md#serve-stale): an expired answer is kept up to maxStale
// past its TTL, inside the same entry and byte bounds (expired entries are evicted first), for
// the query handler to answer with when the upstreams fail. A failure never replaces a good
// answer that is still within that window: a SERVFAIL is never served in place of stale data.
//
// One thread (the event loop's); not thread-safe by design.

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "resolver/dns_message.h"

namespace dynamo::dns {

using Clock = std::function<std::chrono::steady_clock::time_point()>;

class DnsCache {
  public:
    static constexpr uint32_t kMaxTtl = 86400;      // a day, whatever the upstream says
    static constexpr uint32_t kServFailTtl = 5;     // RFC 2308 §7.1 allows up to 5 minutes
    static constexpr size_t kBytesPerEntry = 4096;  // byte budget: capacity × this
    // RFC 8767 §4 "failure recheck timer": after a refresh failed, stale data is answered at
    // once for this long instead of asking the upstreams again for every client.
    static constexpr std::chrono::seconds kFailureRecheck{30};
    // Prefetch: an entry asked for within the last tenth of its TTL is refreshed once, when
    // its TTL was at least this long (shorter ones are cheap to miss and would be refreshed
    // nearly continuously).
    static constexpr uint32_t kMinPrefetchTtl = 10;

    // capacity 0 = disabled: lookup() always misses, store() does nothing. An empty clock
    // means steady_clock::now.
    DnsCache(size_t capacity, Clock clock);

    // A fresh copy for this query: the client's ID, the question bytes exactly as the client
    // sent them (0x20 case preserved), TTLs decremented by the time spent in cache, and AD
    // cleared unless the query had AD or DO (RFC 6840 §5.7). nullopt on miss or expiry, and
    // for a query with AD or DO when the entry was fetched by one with neither: the upstream
    // cleared AD for that asker, so the entry cannot say whether the data validated.
    //
    // With `prefetch`, *prefetch says whether this hit is the one that should refresh the entry
    // in the background: within the last tenth of a TTL of at least kMinPrefetchTtl, once per
    // stored answer.
    std::optional<std::vector<uint8_t>> lookup(std::span<const uint8_t> queryBytes,
                                               const Message& query, bool* prefetch = nullptr);
    // The same into `out` (its capacity reused from hit to hit, so a hit allocates nothing);
    // false on a miss, `out` then unspecified.
    bool lookup(std::span<const uint8_t> queryBytes, const Message& query,
                std::vector<uint8_t>& out, bool* prefetch = nullptr);

    // RFC 8767: keep expired answers up to maxStale (0 = off, expired entries go at once) and
    // serve them with TTLs lowered to staleTtl (§4: 30 s).
    void setServeStale(std::chrono::seconds maxStale, uint32_t staleTtl);
    // Whether an expired good answer (not a cached failure) within maxStale exists for `query`
    // and could be served to it (same AD rule as lookup()).
    bool hasStale(const Message& query) const;
    // That answer, ready for this client, with TTLs at most staleTtl; counted in staleServed().
    std::optional<std::vector<uint8_t>> lookupStale(std::span<const uint8_t> queryBytes,
                                                    const Message& query);
    // A refresh of `query`'s stale entry failed now: for kFailureRecheck, refreshFailedRecently()
    // is true. The entry stays.
    void refreshFailed(const Message& query);
    bool refreshFailedRecently(const Message& query) const;

    // Stores an upstream answer to `query` when policy allows: cacheableTtl(), capped at
    // kMaxTtl; SERVFAIL for kServFailTtl, under this query's key only (RFC 2308 §7.1); never
    // TC answers, zero TTLs, or answers whose question differs from the query's. An entry
    // whose AD is meaningful is not replaced, while fresh, by one whose AD is not.
    void store(const Message& query, std::span<const uint8_t> answer, const Message& parsedAnswer);

    // Drops the entries of every type, class, DO, CD and RD for `name` (presentation form, any
    // case, trailing dot ok); returns how many.
    size_t erase(std::string_view name);

    void clear();
    void setCapacity(size_t capacity);  // shrinking evicts least recently used entries

    size_t size() const { return index_.size(); }
    size_t bytes() const { return bytes_; }
    uint64_t hits() const { return hits_; }
    uint64_t misses() const { return misses_; }
    uint64_t staleServed() const { return staleServed_; }
    // Entries past their TTL still held for serve-stale (counted at the last eviction pass).
    size_t staleEntries() const;

  private:
    // Everything in a query that changes the answer is in the key, so an answer (or failure)
    // fetched for one client's query never serves a query the upstream would answer
    // differently. RFC 6891 / RFC 4035 §3.2: DO and CD change what an upstream returns
    // (RRSIGs, unvalidated data); EDNS itself too, because an answer carries OPT only for a
    // query that had one (RFC 6891 §7); RD too: without it a recursive upstream answers from
    // what it holds, refuses or refers (RFC 1034 §4.3.1), which must not reach RD=1 clients.
    // Not in the key: AD (normalised at lookup, RFC 6840 §5.7), TC (cleared before
    // forwarding), the EDNS version (> 0 is answered BADVERS before the cache) and EDNS
    // options. qnameWire is already lower-case.
    struct KeyFields {
        uint16_t qtype = 0;
        uint16_t qclass = 0;
        bool edns = false;
        bool dnssecOk = false;
        bool checkingDisabled = false;
        bool recursionDesired = false;
        friend bool operator==(const KeyFields&, const KeyFields&) = default;
    };
    struct Key {
        std::string nameWire;
        KeyFields fields;
    };
    // A key as a query gives it, the name borrowed from the parsed question: what lookups use,
    // so a lookup copies no name (heterogeneous lookup, both functors are transparent).
    struct KeyRef {
        std::string_view nameWire;
        KeyFields fields;
    };
    static KeyRef ref(const Key& key) { return {key.nameWire, key.fields}; }
    static KeyRef ref(const KeyRef& key) { return key; }
    struct KeyHash {
        using is_transparent = void;
        size_t operator()(const KeyRef& key) const;
        size_t operator()(const Key& key) const { return (*this)(ref(key)); }
    };
    struct KeyEqual {
        using is_transparent = void;
        template <typename A, typename B>
        bool operator()(const A& a, const B& b) const {
            const KeyRef x = ref(a);
            const KeyRef y = ref(b);
            return x.nameWire == y.nameWire && x.fields == y.fields;
        }
    };
    struct Entry {
        Key key;
        std::vector<uint8_t> answer;     // TTLs already capped at `ttl`
        std::vector<RecordRef> records;  // where the TTLs are, so a hit does not reparse
        size_t questionEnd = 0;
        std::chrono::steady_clock::time_point storedAt;
        uint32_t ttl = 0;
        // The query that fetched it had AD or DO, so the upstream set AD exactly when the
        // data validated (RFC 6840 §5.7); without either, AD is clear whatever the data.
        bool adMeaningful = false;
        bool failure = false;     // a cached SERVFAIL: never served stale
        bool prefetched = false;  // a prefetch for this answer has been started
        std::optional<std::chrono::steady_clock::time_point> refreshFailedAt;
        std::multimap<std::chrono::steady_clock::time_point, Entry*>::iterator expiry;
    };
    using List = std::list<Entry>;  // most recently used first
    using Time = std::chrono::steady_clock::time_point;

    static KeyRef keyFor(const Message& query);
    static bool wantsAd(const Message& query);
    bool fresh(const Entry& entry) const;
    // Past its TTL but within maxStale, and a good answer.
    bool staleUsable(const Entry& entry) const;
    const Entry* findUsable(const Message& query) const;
    // The entry as this client's answer, into `answer`.
    void render(const Entry& entry, std::span<const uint8_t> queryBytes, const Message& query,
                std::vector<uint8_t>& answer) const;
    // Drops entries past TTL + maxStale, oldest first.
    void dropDead();
    uint64_t budget() const;  // the byte bound, capacity_ × kBytesPerEntry
    void evictToFit();
    void remove(List::iterator entry);

    size_t capacity_;
    Clock clock_;
    List lru_;
    std::unordered_map<Key, List::iterator, KeyHash, KeyEqual> index_;
    std::multimap<Time, Entry*> byExpiry_;  // storedAt + ttl: expired entries are evicted first
    std::chrono::seconds maxStale_{0};
    uint32_t staleTtl_ = 30;
    size_t bytes_ = 0;
    uint64_t hits_ = 0;
    uint64_t misses_ = 0;
    uint64_t staleServed_ = 0;
};

}  // namespace dynamo::dns
