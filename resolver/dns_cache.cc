#include "resolver/dns_cache.h"

#include <algorithm>
#include <utility>

namespace dynamo::dns {

size_t DnsCache::KeyHash::operator()(const KeyRef& ref) const {
    size_t hash = std::hash<std::string_view>{}(ref.nameWire);
    const KeyFields& key = ref.fields;
    const size_t extra = (size_t{key.qtype} << 19) | (size_t{key.qclass} << 3) |
                         (size_t{key.recursionDesired} << 3) | (size_t{key.edns} << 2) |
                         (size_t{key.dnssecOk} << 1) | size_t{key.checkingDisabled};
    return hash ^ (extra + 0x9e3779b97f4a7c15ull + (hash << 6) + (hash >> 2));
}

DnsCache::DnsCache(size_t capacity, Clock clock) : capacity_(capacity), clock_(std::move(clock)) {
    if (!clock_)
        clock_ = [] { return std::chrono::steady_clock::now(); };
}

DnsCache::KeyRef DnsCache::keyFor(const Message& query) {
    return KeyRef{
        query.qnameWire,
        {query.qtype, query.qclass, query.edns.has_value(),
         query.edns.has_value() && query.edns->dnssecOk, query.header.cd(), query.header.rd()}};
}

bool DnsCache::wantsAd(const Message& query) {
    return query.header.ad() || (query.edns && query.edns->dnssecOk);
}

bool DnsCache::fresh(const Entry& entry) const {
    const auto age = clock_() - entry.storedAt;
    return age >= std::chrono::seconds(0) && age < std::chrono::seconds(entry.ttl);
}

bool DnsCache::staleUsable(const Entry& entry) const {
    if (entry.failure || maxStale_.count() == 0)
        return false;
    const auto age = clock_() - entry.storedAt;
    return age >= std::chrono::seconds(entry.ttl) &&
           age < std::chrono::seconds(entry.ttl) + maxStale_;
}

void DnsCache::render(const Entry& entry, std::span<const uint8_t> queryBytes, const Message& query,
                      std::vector<uint8_t>& answer) const {
    answer.assign(entry.answer.begin(), entry.answer.end());
    setId(answer, query.header.id);
    // RFC 6840 §5.7: AD only for a query that had AD or DO, whoever fetched the entry.
    if (!wantsAd(query))
        clearFlags(answer, flag::kAd);
    // The question as this client wrote it, so a client checking 0x20 case randomisation
    // (draft-vixie-dnsext-dns0x20) gets its own spelling back. The question holds no
    // compression pointers (parse() refuses them there), so the lengths match byte for byte.
    std::copy(queryBytes.begin() + kHeaderSize,
              queryBytes.begin() + static_cast<std::ptrdiff_t>(query.questionEnd),
              answer.begin() + kHeaderSize);
}

std::optional<std::vector<uint8_t>> DnsCache::lookup(std::span<const uint8_t> queryBytes,
                                                     const Message& query, bool* prefetch) {
    std::vector<uint8_t> answer;
    if (!lookup(queryBytes, query, answer, prefetch))
        return std::nullopt;
    return answer;
}

bool DnsCache::lookup(std::span<const uint8_t> queryBytes, const Message& query,
                      std::vector<uint8_t>& answer, bool* prefetch) {
    if (prefetch != nullptr)
        *prefetch = false;
    const auto found = capacity_ == 0 ? index_.end() : index_.find(keyFor(query));
    if (found == index_.end()) {
        ++misses_;
        return false;
    }
    const List::iterator entry = found->second;
    const auto age = clock_() - entry->storedAt;
    if (entry->questionEnd != query.questionEnd || queryBytes.size() < query.questionEnd ||
        age < std::chrono::seconds(0)) {
        remove(entry);
        ++misses_;
        return false;
    }
    // Served only while now < storedAt + ttl: at exactly ttl seconds the entry is expired, so
    // a client never sees a TTL of 0 from us that the upstream did not send. An expired entry
    // is kept for serve-stale while it may still be used (RFC 8767 §4).
    if (age >= std::chrono::seconds(entry->ttl)) {
        if (!staleUsable(*entry))
            remove(entry);
        ++misses_;
        return false;
    }
    if (wantsAd(query) && !entry->adMeaningful) {
        // Kept: the upstream's answer to this query will replace it.
        ++misses_;
        return false;
    }
    lru_.splice(lru_.begin(), lru_, entry);
    ++hits_;

    const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(age).count();
    if (prefetch != nullptr && !entry->failure && !entry->prefetched &&
        entry->ttl >= kMinPrefetchTtl &&
        static_cast<uint64_t>(elapsed) * 10 >= uint64_t{entry->ttl} * 9) {
        entry->prefetched = true;
        *prefetch = true;
    }
    render(*entry, queryBytes, query, answer);
    decrementTtls(answer, entry->records, static_cast<uint32_t>(elapsed));
    return true;
}

void DnsCache::setServeStale(std::chrono::seconds maxStale, uint32_t staleTtl) {
    maxStale_ = std::max(maxStale, std::chrono::seconds(0));
    staleTtl_ = std::max<uint32_t>(1, staleTtl);
    dropDead();
}

const DnsCache::Entry* DnsCache::findUsable(const Message& query) const {
    if (capacity_ == 0)
        return nullptr;
    const auto found = index_.find(keyFor(query));
    if (found == index_.end())
        return nullptr;
    const Entry& entry = *found->second;
    if (!staleUsable(entry) || entry.questionEnd != query.questionEnd ||
        (wantsAd(query) && !entry.adMeaningful)) {
        return nullptr;
    }
    return &entry;
}

bool DnsCache::hasStale(const Message& query) const {
    return findUsable(query) != nullptr;
}

std::optional<std::vector<uint8_t>> DnsCache::lookupStale(std::span<const uint8_t> queryBytes,
                                                          const Message& query) {
    const Entry* entry = findUsable(query);
    if (entry == nullptr || queryBytes.size() < query.questionEnd)
        return std::nullopt;
    ++staleServed_;
    std::vector<uint8_t> answer;
    render(*entry, queryBytes, query, answer);
    // RFC 8767 §4: stale data goes out with one short TTL (30 s recommended), so downstream
    // caches neither hammer us nor keep it long.
    setTtls(answer, entry->records, staleTtl_);
    return answer;
}

void DnsCache::refreshFailed(const Message& query) {
    if (capacity_ == 0)
        return;
    if (const auto found = index_.find(keyFor(query)); found != index_.end())
        found->second->refreshFailedAt = clock_();
}

bool DnsCache::refreshFailedRecently(const Message& query) const {
    const Entry* entry = findUsable(query);
    if (entry == nullptr || !entry->refreshFailedAt)
        return false;
    const auto since = clock_() - *entry->refreshFailedAt;
    return since >= std::chrono::seconds(0) && since < kFailureRecheck;
}

size_t DnsCache::staleEntries() const {
    const auto now = clock_();
    size_t count = 0;
    for (auto it = byExpiry_.begin(); it != byExpiry_.end() && it->first <= now; ++it)
        ++count;
    return count;
}

void DnsCache::dropDead() {
    const auto now = clock_();
    while (!byExpiry_.empty() && byExpiry_.begin()->first + maxStale_ <= now) {
        remove(index_.find(byExpiry_.begin()->second->key)->second);
    }
}

void DnsCache::store(const Message& query, std::span<const uint8_t> answer,
                     const Message& parsedAnswer) {
    if (capacity_ == 0)
        return;
    const Header& header = parsedAnswer.header;
    // A truncated answer is partial (RFC 2181 §9); an answer to another question (a confused
    // or spoofing upstream) must not poison this key.
    if (!header.qr() || header.tc() || parsedAnswer.qnameWire != query.qnameWire ||
        parsedAnswer.qtype != query.qtype || parsedAnswer.qclass != query.qclass ||
        parsedAnswer.questionEnd != query.questionEnd) {
        return;
    }
    std::optional<uint32_t> ttl;
    const bool extendedRcode = parsedAnswer.edns && parsedAnswer.edns->extendedRcode != 0;
    const bool failure = header.rcode() == static_cast<uint8_t>(Rcode::ServFail) && !extendedRcode;
    if (failure) {
        if (const auto found = index_.find(keyFor(query)); found != index_.end()) {
            Entry& existing = *found->second;
            if (!existing.failure && (fresh(existing) || staleUsable(existing))) {
                // RFC 8767 §4: the good answer stays, to be served stale; the failure only
                // starts its recheck timer.
                existing.refreshFailedAt = clock_();
                return;
            }
        }
        // RFC 2308 §7.1: server failures may be cached, for at most five minutes; we keep them
        // only seconds so a recovering upstream is used again at once, while a dead one is not
        // hammered by every retrying client.
        ttl = kServFailTtl;
    } else {
        ttl = cacheableTtl(answer, parsedAnswer);
    }
    if (!ttl || *ttl == 0)
        return;
    const uint32_t lifetime = std::min(*ttl, kMaxTtl);
    if (answer.size() > budget())
        return;
    // RFC 7873 §5.3: a server cookie is made for one client (it hashes the client's cookie and
    // address); served to another, that client's resolver (BIND, Knot, dig) rejects the answer.
    // The first asker got the upstream's bytes untouched; the cached copy carries no COOKIE.
    // Records before the OPT keep their offsets; withoutEdnsOption() refuses when any follow.
    std::optional<std::vector<uint8_t>> stored =
        withoutEdnsOption(answer, parsedAnswer, edns_option::kCookie);
    if (!stored)
        return;

    Entry entry;
    const KeyRef key = keyFor(query);
    entry.key = Key{std::string(key.nameWire), key.fields};
    entry.answer = std::move(*stored);
    entry.records = parsedAnswer.records;
    entry.questionEnd = parsedAnswer.questionEnd;
    entry.storedAt = clock_();
    entry.ttl = lifetime;
    entry.adMeaningful = wantsAd(query);
    entry.failure = failure;
    // No record may outlive the entry: RFC 2308 §5 makes the negative TTL min(SOA TTL,
    // MINIMUM), so the SOA we hand out must not claim more, and kMaxTtl applies to what
    // downstream caches see as well.
    capTtls(entry.answer, entry.records, lifetime);

    if (const auto found = index_.find(entry.key); found != index_.end()) {
        const Entry& existing = *found->second;
        // Both answers are fresh and alike but for AD; the existing one also knows whether
        // the data validated.
        if (existing.adMeaningful && !entry.adMeaningful && fresh(existing))
            return;
        remove(found->second);
    }
    dropDead();
    bytes_ += entry.answer.size();
    const Time expires = entry.storedAt + std::chrono::seconds(entry.ttl);
    lru_.push_front(std::move(entry));
    index_.emplace(lru_.front().key, lru_.begin());
    lru_.front().expiry = byExpiry_.emplace(expires, &lru_.front());
    evictToFit();
}

size_t DnsCache::erase(std::string_view name) {
    const std::optional<std::string> wire = nameToWire(name);
    if (!wire)
        return 0;
    // A linear walk: erase() runs after an accepted update (at most one per account every five
    // minutes), so a per-name secondary index would cost more than it saves.
    size_t erased = 0;
    for (auto it = lru_.begin(); it != lru_.end();) {
        const auto next = std::next(it);
        if (it->key.nameWire == *wire) {
            remove(it);
            ++erased;
        }
        it = next;
    }
    return erased;
}

void DnsCache::clear() {
    index_.clear();
    byExpiry_.clear();
    lru_.clear();
    bytes_ = 0;
}

void DnsCache::setCapacity(size_t capacity) {
    capacity_ = capacity;
    evictToFit();
}

uint64_t DnsCache::budget() const {
    // In 64 bits: capacity × 4096 overflows a 32-bit size_t (armhf) past about a million.
    return uint64_t{capacity_} * kBytesPerEntry;
}

void DnsCache::evictToFit() {
    // Two bounds: the configured number of answers, and a byte budget so a few huge answers
    // (TCP-sized TXT or DNSKEY sets) cannot make 10000 entries cost hundreds of megabytes.
    // Stale entries count against both and go first, the longest expired first; then the least
    // recently used.
    const auto now = clock_();
    while (!lru_.empty() && (lru_.size() > capacity_ || bytes_ > budget())) {
        if (!byExpiry_.empty() && byExpiry_.begin()->first <= now) {
            remove(index_.find(byExpiry_.begin()->second->key)->second);
        } else {
            remove(std::prev(lru_.end()));
        }
    }
}

void DnsCache::remove(List::iterator entry) {
    bytes_ -= entry->answer.size();
    byExpiry_.erase(entry->expiry);
    index_.erase(entry->key);
    lru_.erase(entry);
}

}  // namespace dynamo::dns
