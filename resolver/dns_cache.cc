#include "resolver/dns_cache.h"

#include <algorithm>
#include <utility>

namespace dynamo::dns {

size_t DnsCache::KeyHash::operator()(const Key& key) const {
    size_t hash = std::hash<std::string>{}(key.nameWire);
    const size_t extra = (size_t{key.qtype} << 19) | (size_t{key.qclass} << 3) |
                         (size_t{key.recursionDesired} << 3) | (size_t{key.edns} << 2) |
                         (size_t{key.dnssecOk} << 1) | size_t{key.checkingDisabled};
    return hash ^ (extra + 0x9e3779b97f4a7c15ull + (hash << 6) + (hash >> 2));
}

DnsCache::DnsCache(size_t capacity, Clock clock) : capacity_(capacity), clock_(std::move(clock)) {
    if (!clock_)
        clock_ = [] { return std::chrono::steady_clock::now(); };
}

DnsCache::Key DnsCache::keyFor(const Message& query) {
    return Key{query.qnameWire,
               query.qtype,
               query.qclass,
               query.edns.has_value(),
               query.edns.has_value() && query.edns->dnssecOk,
               query.header.cd(),
               query.header.rd()};
}

bool DnsCache::wantsAd(const Message& query) {
    return query.header.ad() || (query.edns && query.edns->dnssecOk);
}

bool DnsCache::fresh(const Entry& entry) const {
    const auto age = clock_() - entry.storedAt;
    return age >= std::chrono::seconds(0) && age < std::chrono::seconds(entry.ttl);
}

std::optional<std::vector<uint8_t>> DnsCache::lookup(std::span<const uint8_t> queryBytes,
                                                     const Message& query) {
    const auto found = capacity_ == 0 ? index_.end() : index_.find(keyFor(query));
    if (found == index_.end()) {
        ++misses_;
        return std::nullopt;
    }
    const List::iterator entry = found->second;
    const auto age = clock_() - entry->storedAt;
    // Served only while now < storedAt + ttl: at exactly ttl seconds the entry is gone, so a
    // client never sees a TTL of 0 from us that the upstream did not send.
    if (age >= std::chrono::seconds(entry->ttl) || age < std::chrono::seconds(0) ||
        entry->questionEnd != query.questionEnd || queryBytes.size() < query.questionEnd) {
        remove(entry);
        ++misses_;
        return std::nullopt;
    }
    const bool askedForAd = wantsAd(query);
    if (askedForAd && !entry->adMeaningful) {
        // Kept: the upstream's answer to this query will replace it.
        ++misses_;
        return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, entry);
    ++hits_;

    std::vector<uint8_t> answer = entry->answer;
    const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(age).count();
    decrementTtls(answer, entry->records, static_cast<uint32_t>(elapsed));
    setId(answer, query.header.id);
    // RFC 6840 §5.7: AD only for a query that had AD or DO, whoever fetched the entry.
    if (!askedForAd)
        clearFlags(answer, flag::kAd);
    // The question as this client wrote it, so a client checking 0x20 case randomisation
    // (draft-vixie-dnsext-dns0x20) gets its own spelling back. The question holds no
    // compression pointers (parse() refuses them there), so the lengths match byte for byte.
    std::copy(queryBytes.begin() + kHeaderSize,
              queryBytes.begin() + static_cast<std::ptrdiff_t>(query.questionEnd),
              answer.begin() + kHeaderSize);
    return answer;
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
    if (header.rcode() == static_cast<uint8_t>(Rcode::ServFail) && !extendedRcode) {
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

    Entry entry{keyFor(query), std::move(*stored), parsedAnswer.records, parsedAnswer.questionEnd,
                clock_(),      lifetime,           wantsAd(query)};
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
    bytes_ += entry.answer.size();
    lru_.push_front(std::move(entry));
    index_.emplace(lru_.front().key, lru_.begin());
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
    while (!lru_.empty() && (lru_.size() > capacity_ || bytes_ > budget())) {
        remove(std::prev(lru_.end()));
    }
}

void DnsCache::remove(List::iterator entry) {
    bytes_ -= entry->answer.size();
    index_.erase(entry->key);
    lru_.erase(entry);
}

}  // namespace dynamo::dns
