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
// Memory: a full cache of 10,000 answers is a good part of the daemon's footprint on a small
// router, so each answer is one heap block (its fixed fields, the TTL offsets and the answer
// bytes; the key's name is the stored question itself), linked into an intrusive LRU list,
// found through an open-addressing index and ordered by expiry in a binary heap: no node
// allocations beside it. On a full cache the evicted answer's block is reused for the next
// one, so the steady-state miss path neither allocates nor frees.
//
// One thread (the event loop's); not thread-safe by design.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
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
    ~DnsCache();
    DnsCache(const DnsCache&) = delete;
    DnsCache& operator=(const DnsCache&) = delete;

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

    size_t size() const { return size_; }
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
    // A key as a query gives it, the name borrowed from the parsed question: a lookup copies
    // no name.
    struct KeyRef {
        std::string_view nameWire;
        KeyFields fields;
    };
    using Time = std::chrono::steady_clock::time_point;

    // One cached answer in one heap block: this header, then `recordCount` TTL offsets, then
    // the `answerSize` answer bytes. The answer's question holds the key's name: it is stored
    // lower-cased (render() writes the client's own question over it on every hit anyway), so
    // the name is not kept twice. Offsets and sizes fit 16 bits: a DNS message is at most
    // 65535 bytes (RFC 1035 §4.2.2).
    struct Entry {
        Entry* newer = nullptr;  // LRU neighbours; nullptr at either end
        Entry* older = nullptr;
        Time storedAt;
        Time refreshFailedAt;  // meaningful when refreshFailed
        // Insertion order: of two answers expiring at the same instant, the older goes first.
        uint64_t sequence = 0;
        uint32_t hash = 0;
        uint32_t heapIndex = 0;  // its place in byExpiry_, kept by every heap move
        uint32_t ttl = 0;        // the record TTLs in the answer are already capped at it
        uint32_t blockSize = 0;  // bytes allocated, for reuse by a later answer
        KeyFields fields;
        uint16_t answerSize = 0;
        uint16_t questionEnd = 0;
        uint16_t recordCount = 0;  // TTL offsets: only the TTLs are rewritten on a hit
        // The query that fetched it had AD or DO, so the upstream set AD exactly when the
        // data validated (RFC 6840 §5.7); without either, AD is clear whatever the data.
        bool adMeaningful : 1 = false;
        bool failure : 1 = false;     // a cached SERVFAIL: never served stale
        bool prefetched : 1 = false;  // a prefetch for this answer has been started
        bool refreshFailed : 1 = false;

        std::span<uint16_t> ttlOffsets();
        std::span<const uint16_t> ttlOffsets() const;
        std::span<uint8_t> answer();
        std::span<const uint8_t> answer() const;
        std::string_view nameWire() const;
        Time expires() const { return storedAt + std::chrono::seconds(ttl); }
    };
    // Open addressing with linear probing; the hash is kept beside the pointer so a probe
    // past other keys does not touch their (cold) entries.
    struct Slot {
        Entry* entry = nullptr;
        uint32_t hash = 0;
    };
    struct Expiry {
        Time at;  // storedAt + ttl, copied here so heap moves compare without touching entries
        Entry* entry = nullptr;
    };

    static KeyRef keyFor(const Message& query);
    static uint32_t hashOf(const KeyRef& key);
    static bool wantsAd(const Message& query);
    bool fresh(const Entry& entry) const;
    // Past its TTL but within maxStale, and a good answer.
    bool staleUsable(const Entry& entry) const;
    Entry* find(const KeyRef& key) const;
    Entry* find(const KeyRef& key, uint32_t hash) const;
    const Entry* findUsable(const Message& query) const;
    // The entry as this client's answer, into `answer`.
    void render(const Entry& entry, std::span<const uint8_t> queryBytes, const Message& query,
                std::vector<uint8_t>& answer) const;
    // Drops entries past TTL + maxStale, oldest first.
    void dropDead();
    uint64_t budget() const;  // the byte bound, capacity_ × kBytesPerEntry
    void evictToFit();
    void remove(Entry* entry);

    // Memory: a block of at least `size` bytes, the spare one when it fits closely.
    Entry* allocate(size_t size);
    void release(Entry* entry);  // keeps it as the spare, freeing the previous spare
    static void freeBlock(Entry* entry);

    // LRU list, most recently used at newest_.
    void linkNewest(Entry* entry);
    void unlink(Entry* entry);

    // The index.
    void indexInsert(Entry* entry);
    void indexErase(const Entry* entry);
    void growIndex();

    // The expiry heap: the earliest (expires, sequence) at byExpiry_[0].
    static bool earlier(const Expiry& a, const Expiry& b);
    void heapPlace(size_t index, const Expiry& item);
    void heapSiftUp(size_t index);
    void heapSiftDown(size_t index);
    void heapPush(Entry* entry);
    void heapErase(const Entry* entry);
    size_t countExpired(size_t index, Time now) const;

    size_t capacity_;
    Clock clock_;
    Entry* newest_ = nullptr;
    Entry* oldest_ = nullptr;
    std::vector<Slot> slots_;       // power-of-two size, at most 3/4 full
    std::vector<Expiry> byExpiry_;  // expired entries are evicted first
    Entry* spare_ = nullptr;        // the last removed block, for the next store()
    size_t size_ = 0;
    uint64_t sequence_ = 0;
    std::chrono::seconds maxStale_{0};
    uint32_t staleTtl_ = 30;
    size_t bytes_ = 0;
    uint64_t hits_ = 0;
    uint64_t misses_ = 0;
    uint64_t staleServed_ = 0;
};

}  // namespace dynamo::dns
