#include "resolver/dns_cache.h"

#include <algorithm>
#include <limits>
#include <new>
#include <type_traits>
#include <utility>

namespace dynamo::dns {

namespace {

constexpr size_t kQuestionFixedSize = 4;  // QTYPE and QCLASS after the question name
constexpr size_t kOptFixedSize = 10;      // TYPE, CLASS, TTL, RDLENGTH after the OPT owner
// Blocks are allocated in steps of this, and a spare block is reused for an answer up to this
// much smaller: most answers of a cache differ by a few bytes (name length, record count), so
// the evicted block nearly always fits the next answer, while no entry wastes more than this.
constexpr size_t kBlockStep = 16;
constexpr size_t kReuseSlack = 64;

uint16_t read16(std::span<const uint8_t> bytes, size_t offset) {
    return static_cast<uint16_t>((bytes[offset] << 8) | bytes[offset + 1]);
}

uint32_t read32(const uint8_t* bytes) {
    return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
           uint32_t{bytes[3]};
}

void write32(uint8_t* bytes, uint32_t value) {
    bytes[0] = static_cast<uint8_t>(value >> 24);
    bytes[1] = static_cast<uint8_t>(value >> 16);
    bytes[2] = static_cast<uint8_t>(value >> 8);
    bytes[3] = static_cast<uint8_t>(value);
}

// RFC 2181 §8: a TTL with the top bit set is to be treated as zero.
uint32_t effectiveTtl(uint32_t ttl) {
    return ttl > 0x7fffffffu ? 0 : ttl;
}

// Whether the answer's OPT may hold EDNS option `code`: false only when its owner is the plain
// root label and its RDATA walks as options none of which is `code`. Then the answer is stored
// as it is; otherwise withoutEdnsOption() decides (and copies), as it did for every answer.
bool mayHoldOption(std::span<const uint8_t> message, const Message& parsed, uint16_t code) {
    if (!parsed.edns)
        return false;
    const size_t owner = parsed.edns->offset;
    if (owner >= message.size() || message[owner] != 0)
        return true;
    const size_t rdataStart = owner + 1 + kOptFixedSize;
    if (rdataStart > message.size())
        return true;
    const size_t rdataEnd = rdataStart + read16(message, rdataStart - 2);
    if (rdataEnd > message.size())
        return true;
    for (size_t position = rdataStart; position < rdataEnd;) {
        if (position + 4 > rdataEnd || read16(message, position) == code)
            return true;
        position += 4 + size_t{read16(message, position + 2)};
        if (position > rdataEnd)
            return true;
    }
    return false;
}

}  // namespace

// Right after the header, whose alignment (8) suits them: casting from Entry*, not from a byte
// pointer, keeps -Wcast-align quiet on strict-alignment targets (armhf).
std::span<uint16_t> DnsCache::Entry::ttlOffsets() {
    return {reinterpret_cast<uint16_t*>(this + 1), recordCount};
}

std::span<const uint16_t> DnsCache::Entry::ttlOffsets() const {
    return {reinterpret_cast<const uint16_t*>(this + 1), recordCount};
}

std::span<uint8_t> DnsCache::Entry::answer() {
    return {reinterpret_cast<uint8_t*>(ttlOffsets().data() + recordCount), answerSize};
}

std::span<const uint8_t> DnsCache::Entry::answer() const {
    return {reinterpret_cast<const uint8_t*>(ttlOffsets().data() + recordCount), answerSize};
}

std::string_view DnsCache::Entry::nameWire() const {
    // The question is the name, then QTYPE and QCLASS; store() checked the lengths.
    return {reinterpret_cast<const char*>(answer().data() + kHeaderSize),
            size_t{questionEnd} - kHeaderSize - kQuestionFixedSize};
}

uint32_t DnsCache::hashOf(const KeyRef& key) {
    const size_t name = std::hash<std::string_view>{}(key.nameWire);
    const KeyFields& fields = key.fields;
    const uint64_t extra = (uint64_t{fields.qtype} << 20) | (uint64_t{fields.qclass} << 4) |
                           (uint64_t{fields.recursionDesired} << 3) | (uint64_t{fields.edns} << 2) |
                           (uint64_t{fields.dnssecOk} << 1) | uint64_t{fields.checkingDisabled};
    // A 64-bit multiply mixes the fields into every bit; the index uses the low bits.
    const uint64_t mixed = (uint64_t{name} ^ extra) * 0x9e3779b97f4a7c15ull;
    return static_cast<uint32_t>(mixed >> 32) ^ static_cast<uint32_t>(name);
}

DnsCache::DnsCache(size_t capacity, Clock clock) : capacity_(capacity), clock_(std::move(clock)) {
    if (!clock_)
        clock_ = [] { return std::chrono::steady_clock::now(); };
}

DnsCache::~DnsCache() {
    clear();
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

DnsCache::Entry* DnsCache::find(const KeyRef& key) const {
    return find(key, hashOf(key));
}

DnsCache::Entry* DnsCache::find(const KeyRef& key, uint32_t hash) const {
    if (capacity_ == 0 || slots_.empty())
        return nullptr;
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask; slots_[i].entry != nullptr; i = (i + 1) & mask) {
        Entry* entry = slots_[i].entry;
        if (slots_[i].hash == hash && entry->fields == key.fields &&
            entry->nameWire() == key.nameWire) {
            return entry;
        }
    }
    return nullptr;
}

void DnsCache::render(const Entry& entry, std::span<const uint8_t> queryBytes, const Message& query,
                      std::vector<uint8_t>& answer) const {
    const std::span<const uint8_t> stored = entry.answer();
    answer.assign(stored.begin(), stored.end());
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
    Entry* entry = find(keyFor(query));
    if (entry == nullptr) {
        ++misses_;
        return false;
    }
    const auto age = clock_() - entry->storedAt;
    if (size_t{entry->questionEnd} != query.questionEnd || queryBytes.size() < query.questionEnd ||
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
    unlink(entry);
    linkNewest(entry);
    ++hits_;

    const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(age).count();
    if (prefetch != nullptr && !entry->failure && !entry->prefetched &&
        entry->ttl >= kMinPrefetchTtl &&
        static_cast<uint64_t>(elapsed) * 10 >= uint64_t{entry->ttl} * 9) {
        entry->prefetched = true;
        *prefetch = true;
    }
    render(*entry, queryBytes, query, answer);
    // Subtracts the time spent here from every TTL, not below zero (RFC 1035 §3.2.1).
    const auto spent = static_cast<uint32_t>(elapsed);
    for (const uint16_t offset : entry->ttlOffsets()) {
        const uint32_t ttl = effectiveTtl(read32(answer.data() + offset));
        write32(answer.data() + offset, ttl > spent ? ttl - spent : 0);
    }
    return true;
}

void DnsCache::setServeStale(std::chrono::seconds maxStale, uint32_t staleTtl) {
    maxStale_ = std::max(maxStale, std::chrono::seconds(0));
    staleTtl_ = std::max<uint32_t>(1, staleTtl);
    dropDead();
}

const DnsCache::Entry* DnsCache::findUsable(const Message& query) const {
    const Entry* entry = find(keyFor(query));
    if (entry == nullptr || !staleUsable(*entry) ||
        size_t{entry->questionEnd} != query.questionEnd ||
        (wantsAd(query) && !entry->adMeaningful)) {
        return nullptr;
    }
    return entry;
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
    for (const uint16_t offset : entry->ttlOffsets())
        write32(answer.data() + offset, staleTtl_);
    return answer;
}

void DnsCache::refreshFailed(const Message& query) {
    if (Entry* entry = find(keyFor(query)); entry != nullptr) {
        entry->refreshFailedAt = clock_();
        entry->refreshFailed = true;
    }
}

bool DnsCache::refreshFailedRecently(const Message& query) const {
    const Entry* entry = findUsable(query);
    if (entry == nullptr || !entry->refreshFailed)
        return false;
    const auto since = clock_() - entry->refreshFailedAt;
    return since >= std::chrono::seconds(0) && since < kFailureRecheck;
}

size_t DnsCache::staleEntries() const {
    return byExpiry_.empty() ? 0 : countExpired(0, clock_());
}

size_t DnsCache::countExpired(size_t index, Time now) const {
    // A heap's children expire no earlier than their parent: a subtree whose root is not yet
    // expired holds none, so this visits the expired entries and their direct children only.
    if (index >= byExpiry_.size() || byExpiry_[index].at > now)
        return 0;
    return 1 + countExpired(2 * index + 1, now) + countExpired(2 * index + 2, now);
}

void DnsCache::dropDead() {
    const auto now = clock_();
    while (!byExpiry_.empty() && byExpiry_.front().at + maxStale_ <= now)
        remove(byExpiry_.front().entry);
}

void DnsCache::store(const Message& query, std::span<const uint8_t> answer,
                     const Message& parsedAnswer) {
    if (capacity_ == 0)
        return;
    const Header& header = parsedAnswer.header;
    // A truncated answer is partial (RFC 2181 §9); an answer to another question (a confused
    // or spoofing upstream) must not poison this key. The question is the uncompressed name
    // and QTYPE, QCLASS (parse() refuses pointers there): the entry finds its key name in it.
    if (!header.qr() || header.tc() || parsedAnswer.qnameWire != query.qnameWire ||
        parsedAnswer.qtype != query.qtype || parsedAnswer.qclass != query.qclass ||
        parsedAnswer.questionEnd != query.questionEnd ||
        query.questionEnd != kHeaderSize + query.qnameWire.size() + kQuestionFixedSize) {
        return;
    }
    const KeyRef key = keyFor(query);
    const uint32_t hash = hashOf(key);
    std::optional<uint32_t> ttl;
    const bool extendedRcode = parsedAnswer.edns && parsedAnswer.edns->extendedRcode != 0;
    const bool failure = header.rcode() == static_cast<uint8_t>(Rcode::ServFail) && !extendedRcode;
    if (failure) {
        if (Entry* existing = find(key, hash); existing != nullptr) {
            if (!existing->failure && (fresh(*existing) || staleUsable(*existing))) {
                // RFC 8767 §4: the good answer stays, to be served stale; the failure only
                // starts its recheck timer.
                existing->refreshFailedAt = clock_();
                existing->refreshFailed = true;
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
    // Most answers carry none (a COOKIE comes back only to a query that sent one): they are
    // stored without the intermediate copy.
    std::optional<std::vector<uint8_t>> withoutCookie;
    std::span<const uint8_t> bytes = answer;
    if (mayHoldOption(answer, parsedAnswer, edns_option::kCookie)) {
        withoutCookie = withoutEdnsOption(answer, parsedAnswer, edns_option::kCookie);
        if (!withoutCookie)
            return;
        bytes = *withoutCookie;
    }
    if (bytes.size() > std::numeric_limits<uint16_t>::max())
        return;  // larger than any DNS message: not from parse()
    // Records are in message order: those whose TTL lies inside the stored bytes come first.
    size_t records = 0;
    while (records < parsedAnswer.records.size() &&
           parsedAnswer.records[records].ttlOffset + 4 <= bytes.size()) {
        ++records;
    }

    const bool adMeaningful = wantsAd(query);
    if (Entry* existing = find(key, hash); existing != nullptr) {
        // Both answers are fresh and alike but for AD; the existing one also knows whether
        // the data validated.
        if (existing->adMeaningful && !adMeaningful && fresh(*existing))
            return;
        remove(existing);
    }
    dropDead();

    Entry* entry = allocate(sizeof(Entry) + records * sizeof(uint16_t) + bytes.size());
    entry->storedAt = clock_();
    entry->sequence = ++sequence_;
    entry->hash = hash;
    entry->ttl = lifetime;
    entry->fields = key.fields;
    entry->answerSize = static_cast<uint16_t>(bytes.size());
    entry->questionEnd = static_cast<uint16_t>(parsedAnswer.questionEnd);
    entry->recordCount = static_cast<uint16_t>(records);
    entry->adMeaningful = adMeaningful;
    entry->failure = failure;
    const std::span<uint16_t> offsets = entry->ttlOffsets();
    for (size_t i = 0; i < records; ++i)
        offsets[i] = static_cast<uint16_t>(parsedAnswer.records[i].ttlOffset);
    const std::span<uint8_t> stored = entry->answer();
    std::copy(bytes.begin(), bytes.end(), stored.begin());
    // The key's name, lower-case, in place of the upstream's spelling of the question.
    std::copy_n(query.qnameWire.data(), query.qnameWire.size(), stored.begin() + kHeaderSize);
    // No record may outlive the entry: RFC 2308 §5 makes the negative TTL min(SOA TTL,
    // MINIMUM), so the SOA we hand out must not claim more, and kMaxTtl applies to what
    // downstream caches see as well.
    for (const uint16_t offset : offsets) {
        const uint32_t recordTtl = effectiveTtl(read32(stored.data() + offset));
        write32(stored.data() + offset, std::min(recordTtl, lifetime));
    }

    linkNewest(entry);
    indexInsert(entry);
    heapPush(entry);
    bytes_ += entry->answerSize;
    ++size_;
    evictToFit();
}

size_t DnsCache::erase(std::string_view name) {
    const std::optional<std::string> wire = nameToWire(name);
    if (!wire)
        return 0;
    // A linear walk: erase() runs after an accepted update (at most one per account every five
    // minutes), so a per-name secondary index would cost more than it saves.
    size_t erased = 0;
    for (Entry* entry = newest_; entry != nullptr;) {
        Entry* const next = entry->older;
        if (entry->nameWire() == *wire) {
            remove(entry);
            ++erased;
        }
        entry = next;
    }
    return erased;
}

void DnsCache::clear() {
    for (Entry* entry = newest_; entry != nullptr;) {
        Entry* const next = entry->older;
        freeBlock(entry);
        entry = next;
    }
    freeBlock(spare_);
    spare_ = nullptr;
    newest_ = oldest_ = nullptr;
    // The memory goes too: a cleared cache of 10,000 may stay nearly empty a long time.
    std::vector<Slot>().swap(slots_);
    std::vector<Expiry>().swap(byExpiry_);
    size_ = 0;
    bytes_ = 0;
}

void DnsCache::setCapacity(size_t capacity) {
    capacity_ = capacity;
    evictToFit();
    if (capacity_ == 0)
        clear();  // nothing is left to index; the spare and the tables go
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
    while (size_ > 0 && (size_ > capacity_ || bytes_ > budget())) {
        if (byExpiry_.front().at <= now)
            remove(byExpiry_.front().entry);
        else
            remove(oldest_);
    }
}

void DnsCache::remove(Entry* entry) {
    bytes_ -= entry->answerSize;
    --size_;
    heapErase(entry);
    indexErase(entry);
    unlink(entry);
    release(entry);
}

// Memory.

DnsCache::Entry* DnsCache::allocate(size_t size) {
    const size_t blockSize = (size + kBlockStep - 1) / kBlockStep * kBlockStep;
    Entry* block = std::exchange(spare_, nullptr);
    if (block != nullptr &&
        (block->blockSize < blockSize || block->blockSize > size + kReuseSlack)) {
        freeBlock(block);
        block = nullptr;
    }
    const size_t allocated = block != nullptr ? block->blockSize : blockSize;
    void* memory = block != nullptr ? static_cast<void*>(block) : ::operator new(blockSize);
    // A reused block just gets a fresh header: nothing in the old one needs destroying.
    static_assert(std::is_trivially_destructible_v<Entry>);
    Entry* entry = new (memory) Entry;
    entry->blockSize = static_cast<uint32_t>(allocated);
    return entry;
}

void DnsCache::release(Entry* entry) {
    freeBlock(spare_);
    spare_ = entry;
}

void DnsCache::freeBlock(Entry* entry) {
    ::operator delete(static_cast<void*>(entry));
}

// The LRU list.

void DnsCache::linkNewest(Entry* entry) {
    entry->newer = nullptr;
    entry->older = newest_;
    if (newest_ != nullptr)
        newest_->newer = entry;
    newest_ = entry;
    if (oldest_ == nullptr)
        oldest_ = entry;
}

void DnsCache::unlink(Entry* entry) {
    (entry->newer != nullptr ? entry->newer->older : newest_) = entry->older;
    (entry->older != nullptr ? entry->older->newer : oldest_) = entry->newer;
    entry->newer = entry->older = nullptr;
}

// The index.

void DnsCache::indexInsert(Entry* entry) {
    if ((size_ + 1) * 4 > slots_.size() * 3)
        growIndex();
    const size_t mask = slots_.size() - 1;
    size_t i = entry->hash & mask;
    while (slots_[i].entry != nullptr)
        i = (i + 1) & mask;
    slots_[i] = {entry, entry->hash};
}

void DnsCache::indexErase(const Entry* entry) {
    const size_t mask = slots_.size() - 1;
    size_t hole = entry->hash & mask;
    while (slots_[hole].entry != entry)
        hole = (hole + 1) & mask;
    // Backward-shift deletion (Knuth 6.4, Algorithm R): no tombstones, so probes stay short
    // under endless insert/evict churn. A later slot of the run moves into the hole unless
    // its home lies after the hole (cyclically), where a probe for it would not pass the hole.
    for (size_t i = (hole + 1) & mask; slots_[i].entry != nullptr; i = (i + 1) & mask) {
        const size_t home = slots_[i].hash & mask;
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            slots_[hole] = slots_[i];
            hole = i;
        }
    }
    slots_[hole] = {};
}

void DnsCache::growIndex() {
    const size_t slots = std::max<size_t>(16, slots_.size() * 2);
    const std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(slots));
    const size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
        if (slot.entry == nullptr)
            continue;
        size_t i = slot.hash & mask;
        while (slots_[i].entry != nullptr)
            i = (i + 1) & mask;
        slots_[i] = slot;
    }
}

// The expiry heap.

bool DnsCache::earlier(const Expiry& a, const Expiry& b) {
    if (a.at != b.at)
        return a.at < b.at;
    return a.entry->sequence < b.entry->sequence;
}

void DnsCache::heapPlace(size_t index, const Expiry& item) {
    byExpiry_[index] = item;
    item.entry->heapIndex = static_cast<uint32_t>(index);
}

void DnsCache::heapSiftUp(size_t index) {
    const Expiry item = byExpiry_[index];
    while (index > 0) {
        const size_t parent = (index - 1) / 2;
        if (!earlier(item, byExpiry_[parent]))
            break;
        heapPlace(index, byExpiry_[parent]);
        index = parent;
    }
    heapPlace(index, item);
}

void DnsCache::heapSiftDown(size_t index) {
    const Expiry item = byExpiry_[index];
    const size_t count = byExpiry_.size();
    for (;;) {
        size_t child = 2 * index + 1;
        if (child >= count)
            break;
        if (child + 1 < count && earlier(byExpiry_[child + 1], byExpiry_[child]))
            ++child;
        if (!earlier(byExpiry_[child], item))
            break;
        heapPlace(index, byExpiry_[child]);
        index = child;
    }
    heapPlace(index, item);
}

void DnsCache::heapPush(Entry* entry) {
    if (byExpiry_.size() == byExpiry_.capacity()) {
        // Doubling, but never past capacity + 1 (store() pushes before it evicts): a full
        // cache of 10,000 would otherwise keep room for 16,384.
        const size_t doubled = std::max<size_t>(16, 2 * byExpiry_.capacity());
        byExpiry_.reserve(std::max(byExpiry_.size() + 1, std::min(doubled, capacity_ + 1)));
    }
    byExpiry_.push_back({entry->expires(), entry});
    heapSiftUp(byExpiry_.size() - 1);
}

void DnsCache::heapErase(const Entry* entry) {
    const size_t index = entry->heapIndex;
    const Expiry last = byExpiry_.back();
    byExpiry_.pop_back();
    if (index == byExpiry_.size())
        return;  // it was the last
    heapPlace(index, last);
    heapSiftUp(index);
    heapSiftDown(last.entry->heapIndex);
}

}  // namespace dynamo::dns
