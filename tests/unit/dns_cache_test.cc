#include "resolver/dns_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <string>

#include "dns_test_util.h"

// Every allocation of this test binary is counted, so the tests below can see what storing an
// answer costs the heap (the cache's own memory is its whole point on a small router).
namespace {
size_t allocationCalls = 0;
size_t allocatedBytes = 0;
size_t freeCalls = 0;
}  // namespace

void* operator new(std::size_t size) {
    ++allocationCalls;
    allocatedBytes += size;
    if (void* memory = std::malloc(size == 0 ? 1 : size))
        return memory;
    throw std::bad_alloc();
}
// The replacement operator new above takes its memory from malloc(): GCC, seeing free() of a
// pointer from `new` once inlined, cannot know that.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* memory) noexcept {
    if (memory != nullptr)
        ++freeCalls;
    std::free(memory);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
void operator delete(void* memory, std::size_t) noexcept {
    operator delete(memory);
}

namespace dynamo::dns {
namespace {

using namespace std::chrono_literals;
using test::Bytes;
using test::MessageBuilder;
using test::parseOrDie;

const Bytes kAddress = {192, 0, 2, 1};

// Time is injected: expiry is tested to the millisecond without sleeping.
class DnsCacheTest : public ::testing::Test {
  protected:
    std::chrono::steady_clock::time_point now_{std::chrono::hours(1000)};
    Clock clock_ = [this] { return now_; };

    static Bytes query(std::string_view name, uint16_t qtype = type::A, uint16_t id = 1,
                       bool dnssecOk = false, bool checkingDisabled = false, bool edns = true) {
        MessageBuilder builder;
        builder.id(id).flags(checkingDisabled ? 0x0110 : 0x0100).question(name, qtype);
        if (edns)
            builder.opt(1232, dnssecOk);
        return builder.build();
    }

    static Bytes positive(std::string_view name, uint32_t ttl, uint16_t qtype = type::A) {
        return MessageBuilder()
            .id(0xffff)
            .response()
            .question(name, qtype)
            .answer(qtype, ttl, qtype == type::A ? kAddress : Bytes(16, 1))
            .opt()
            .build();
    }

    // Stores `answer` as the upstream's reply to `queryBytes`.
    static void store(DnsCache& cache, const Bytes& queryBytes, const Bytes& answer) {
        cache.store(parseOrDie(queryBytes), answer, parseOrDie(answer));
    }

    static std::optional<Bytes> lookup(DnsCache& cache, const Bytes& queryBytes) {
        return cache.lookup(queryBytes, parseOrDie(queryBytes));
    }

    static uint32_t firstTtl(const Bytes& answer) {
        const Message message = parseOrDie(answer);
        EXPECT_FALSE(message.records.empty());
        return message.records.empty() ? 0 : message.records[0].ttl;
    }
};

// Regression: the first asker's server COOKIE (RFC 7873) was served to every later client,
// whose resolver rejects a cookie made for someone else.
TEST_F(DnsCacheTest, TheCookieOfTheFirstAskerIsNotCached) {
    DnsCache cache(100, clock_);
    const Bytes cookie = {0, 10, 0, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 9, 9, 9, 9};
    const Bytes nsid = {0, 3, 0, 2, 'n', 's'};
    Bytes options = nsid;
    options.insert(options.end(), cookie.begin(), cookie.end());
    const Bytes answer = MessageBuilder()
                             .id(0xffff)
                             .response()
                             .question("www.example.com", type::A)
                             .answer(type::A, 300, kAddress)
                             .opt(1232, false, Section::Additional, options)
                             .build();
    const Bytes q = query("www.example.com");
    store(cache, q, answer);
    auto hit = lookup(cache, query("www.example.com", type::A, 0x2222));
    ASSERT_TRUE(hit);
    const Message served = parseOrDie(*hit);
    ASSERT_TRUE(served.edns);
    EXPECT_EQ(hit->size(), answer.size() - cookie.size());
    // The OPT's RDATA is what is left: the NSID option alone.
    const Bytes tail(hit->end() - static_cast<long>(nsid.size()), hit->end());
    EXPECT_EQ(tail, nsid);
    EXPECT_EQ(served.records.size(), 1u);
    EXPECT_EQ(cache.bytes(), hit->size());
}

TEST_F(DnsCacheTest, AnAnswerWithACookieAndRecordsAfterTheOptIsNotCached) {
    DnsCache cache(100, clock_);
    const Bytes cookie = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    const Bytes answer =
        MessageBuilder()
            .id(0xffff)
            .response()
            .question("www.example.com", type::A)
            .answer(type::A, 300, kAddress)
            .opt(1232, false, Section::Additional, cookie)
            .record(Section::Additional, test::wireName("ns.example.com"), type::A, 300, kAddress)
            .build();
    store(cache, query("www.example.com"), answer);
    EXPECT_EQ(cache.size(), 0u);
}

TEST_F(DnsCacheTest, MissThenHit) {
    DnsCache cache(100, clock_);
    const Bytes q = query("www.example.com", type::A, 0x1111);
    EXPECT_FALSE(lookup(cache, q));
    store(cache, q, positive("www.example.com", 300));
    EXPECT_EQ(cache.size(), 1u);

    const Bytes second = query("www.example.com", type::A, 0x2222);
    const auto hit = lookup(cache, second);
    ASSERT_TRUE(hit);
    const Message message = parseOrDie(*hit);
    EXPECT_EQ(message.header.id, 0x2222);  // the asking client's ID, not the upstream's
    EXPECT_TRUE(message.header.qr());
    EXPECT_EQ(message.records.size(), 1u);
    EXPECT_EQ(message.records[0].ttl, 300u);
    EXPECT_EQ(cache.hits(), 1u);
    EXPECT_EQ(cache.misses(), 1u);
}

TEST_F(DnsCacheTest, TtlsAreDecrementedOnHit) {
    DnsCache cache(100, clock_);
    const Bytes q = query("www.example.com");
    store(cache, q, positive("www.example.com", 300));
    now_ += 100s;
    EXPECT_EQ(firstTtl(*lookup(cache, q)), 200u);
    now_ += 100900ms;  // 200.9 s in cache counts as 200 whole seconds: 100 left
    EXPECT_EQ(firstTtl(*lookup(cache, q)), 100u);
}

TEST_F(DnsCacheTest, ExpiresExactlyAtTtl) {
    DnsCache cache(100, clock_);
    const Bytes q = query("www.example.com");
    store(cache, q, positive("www.example.com", 300));
    now_ += 299999ms;
    const auto last = lookup(cache, q);
    ASSERT_TRUE(last);
    EXPECT_EQ(firstTtl(*last), 1u);
    now_ += 1ms;
    EXPECT_FALSE(lookup(cache, q));
    EXPECT_EQ(cache.size(), 0u);  // an expired entry is dropped when found
}

TEST_F(DnsCacheTest, ClockGoingBackwardsIsAMiss) {
    DnsCache cache(100, clock_);
    const Bytes q = query("www.example.com");
    store(cache, q, positive("www.example.com", 300));
    now_ -= 1s;
    EXPECT_FALSE(lookup(cache, q));
}

TEST_F(DnsCacheTest, LeastRecentlyUsedIsEvictedAtCapacity) {
    DnsCache cache(2, clock_);
    const Bytes a = query("a.example");
    const Bytes b = query("b.example");
    const Bytes c = query("c.example");
    store(cache, a, positive("a.example", 300));
    store(cache, b, positive("b.example", 300));
    ASSERT_TRUE(lookup(cache, a));  // a is now more recent than b
    store(cache, c, positive("c.example", 300));
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_TRUE(lookup(cache, a));
    EXPECT_FALSE(lookup(cache, b));
    EXPECT_TRUE(lookup(cache, c));
}

TEST_F(DnsCacheTest, StoringAgainReplacesTheEntry) {
    DnsCache cache(2, clock_);
    const Bytes q = query("a.example");
    store(cache, q, positive("a.example", 300));
    now_ += 200s;
    store(cache, q, positive("a.example", 50));
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_EQ(firstTtl(*lookup(cache, q)), 50u);
}

TEST_F(DnsCacheTest, ShrinkingEvictsLeastRecentlyUsed) {
    DnsCache cache(3, clock_);
    for (const char* name : {"a.example", "b.example", "c.example"}) {
        store(cache, query(name), positive(name, 300));
    }
    cache.setCapacity(1);
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_TRUE(lookup(cache, query("c.example")));
}

TEST_F(DnsCacheTest, EraseDropsEveryVariantOfAName) {
    DnsCache cache(100, clock_);
    store(cache, query("www.example.com"), positive("www.example.com", 300));
    store(cache, query("WWW.example.com", type::AAAA),
          positive("www.example.com", 300, type::AAAA));
    store(cache, query("www.example.com", type::A, 1, true), positive("www.example.com", 300));
    store(cache, query("www.example.com", type::A, 1, false, true),
          positive("www.example.com", 300));
    store(cache, query("example.com"), positive("example.com", 300));
    EXPECT_EQ(cache.size(), 5u);
    EXPECT_EQ(cache.erase("Www.Example.COM."), 4u);
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_FALSE(lookup(cache, query("www.example.com")));
    EXPECT_TRUE(lookup(cache, query("example.com")));
    EXPECT_EQ(cache.erase("nothing.example"), 0u);
    EXPECT_EQ(cache.erase("bad..name"), 0u);
}

TEST_F(DnsCacheTest, DoAndCdAreSeparateEntries) {
    DnsCache cache(100, clock_);
    store(cache, query("a.example", type::A, 1, true), positive("a.example", 300));
    EXPECT_FALSE(lookup(cache, query("a.example", type::A, 1, false)));
    EXPECT_FALSE(lookup(cache, query("a.example", type::A, 1, false, false, false)));
    EXPECT_TRUE(lookup(cache, query("a.example", type::A, 1, true)));

    store(cache, query("b.example", type::A, 1, false, true), positive("b.example", 300));
    EXPECT_FALSE(lookup(cache, query("b.example", type::A, 1, false, false)));
    EXPECT_TRUE(lookup(cache, query("b.example", type::A, 1, false, true)));
}

TEST_F(DnsCacheTest, QueriesWithAndWithoutEdnsAreSeparateEntries) {
    // An answer carries OPT only for a query that had one (RFC 6891 §7).
    DnsCache cache(100, clock_);
    store(cache, query("e.example"), positive("e.example", 300));
    EXPECT_FALSE(lookup(cache, query("e.example", type::A, 1, false, false, false)));
    EXPECT_TRUE(lookup(cache, query("e.example")));
}

TEST_F(DnsCacheTest, TypeAndClassArePartOfTheKey) {
    DnsCache cache(100, clock_);
    store(cache, query("a.example"), positive("a.example", 300));
    EXPECT_FALSE(lookup(cache, query("a.example", type::AAAA)));
}

TEST_F(DnsCacheTest, ServFailIsKeptFiveSecondsAtMost) {
    DnsCache cache(100, clock_);
    const Bytes q = query("down.example");
    const Message parsedQuery = parseOrDie(q);
    const Bytes failure = errorResponse(q, &parsedQuery, Rcode::ServFail);
    store(cache, q, failure);
    now_ += 4999ms;
    const auto hit = lookup(cache, q);
    ASSERT_TRUE(hit);
    EXPECT_EQ(parseOrDie(*hit).header.rcode(), static_cast<uint8_t>(Rcode::ServFail));
    now_ += 1ms;
    EXPECT_FALSE(lookup(cache, q));
}

TEST_F(DnsCacheTest, NegativeAnswersUseTheSoaMinimum) {
    DnsCache cache(100, clock_);
    const Bytes q = query("gone.example");
    store(cache, q,
          MessageBuilder()
              .response(Rcode::NxDomain)
              .question("gone.example", type::A)
              .soa(3600, 300)
              .build());
    const auto hit = lookup(cache, q);
    ASSERT_TRUE(hit);
    EXPECT_EQ(parseOrDie(*hit).header.rcode(), static_cast<uint8_t>(Rcode::NxDomain));
    // The served SOA never claims more than the entry lives (RFC 2308 §5).
    EXPECT_EQ(firstTtl(*hit), 300u);
    now_ += 300s;
    EXPECT_FALSE(lookup(cache, q));
}

TEST_F(DnsCacheTest, TtlIsCappedAtADay) {
    DnsCache cache(100, clock_);
    const Bytes q = query("long.example");
    store(cache, q, positive("long.example", 7 * 86400));
    EXPECT_EQ(firstTtl(*lookup(cache, q)), DnsCache::kMaxTtl);
    now_ += std::chrono::seconds(DnsCache::kMaxTtl);
    EXPECT_FALSE(lookup(cache, q));
}

TEST_F(DnsCacheTest, WhatIsNeverStored) {
    DnsCache cache(100, clock_);
    const Bytes q = query("a.example");
    Bytes truncatedAnswer = positive("a.example", 300);
    truncatedAnswer[2] |= 0x02;
    store(cache, q, truncatedAnswer);
    store(cache, q, positive("other.example", 300));          // another question
    store(cache, q, positive("a.example", 300, type::AAAA));  // another type
    store(cache, q, positive("a.example", 0));                // zero TTL
    store(cache, q,
          MessageBuilder().response(Rcode::NxDomain).question("a.example", type::A).build());
    store(cache, q,
          MessageBuilder().response(Rcode::Refused).question("a.example", type::A).build());
    Bytes notAResponse = positive("a.example", 300);
    notAResponse[2] &= 0x7f;  // QR clear
    store(cache, q, notAResponse);
    EXPECT_EQ(cache.size(), 0u);
}

TEST_F(DnsCacheTest, ClientCaseIsPreserved) {
    // 0x20 randomisation: the client must get its own spelling back, even when the answer was
    // cached from a query spelled otherwise.
    DnsCache cache(100, clock_);
    store(cache, query("www.example.com"), positive("www.example.com", 300));
    const Bytes mixed = query("wWw.ExAmPlE.cOm", type::A, 7);
    const auto hit = lookup(cache, mixed);
    ASSERT_TRUE(hit);
    const size_t questionEnd = parseOrDie(mixed).questionEnd;
    EXPECT_EQ(Bytes(hit->begin() + kHeaderSize, hit->begin() + static_cast<long>(questionEnd)),
              Bytes(mixed.begin() + kHeaderSize, mixed.begin() + static_cast<long>(questionEnd)));
}

// Issue 12: an RD=0 query's answer (a recursive upstream's REFUSED or referral, RFC 1034
// §4.3.1) served RD=1 clients. RD is part of the key; each side keeps its own answer.
TEST_F(DnsCacheTest, RdIsPartOfTheKey) {
    DnsCache cache(100, clock_);
    Bytes noRd = query("a.example");
    noRd[2] &= static_cast<uint8_t>(~0x01);
    store(cache, query("a.example"), positive("a.example", 300));
    EXPECT_FALSE(lookup(cache, noRd));

    Bytes noRdAnswer = positive("a.example", 300);
    noRdAnswer[2] &= static_cast<uint8_t>(~0x01);
    store(cache, noRd, noRdAnswer);
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_FALSE(parseOrDie(*lookup(cache, noRd)).header.rd());
    EXPECT_TRUE(parseOrDie(*lookup(cache, query("a.example"))).header.rd());
}

// Issue 12: a SERVFAIL is kept for its own key only (RFC 2308 §7.1), for kServFailTtl, and a
// query differing in anything that changes the answer does not see it.
TEST_F(DnsCacheTest, AServFailServesOnlyItsOwnKeyAndOnlyFiveSeconds) {
    DnsCache cache(100, clock_);
    const Bytes q = query("fail.example");
    const Bytes failure = MessageBuilder()
                              .id(1)
                              .response(Rcode::ServFail)
                              .question("fail.example", type::A)
                              .opt()
                              .build();
    store(cache, q, failure);
    Bytes noRd = q;
    noRd[2] &= static_cast<uint8_t>(~0x01);
    EXPECT_FALSE(lookup(cache, noRd));
    EXPECT_FALSE(lookup(cache, query("fail.example", type::A, 1, true)));         // DO
    EXPECT_FALSE(lookup(cache, query("fail.example", type::A, 1, false, true)));  // CD
    EXPECT_FALSE(lookup(cache, query("fail.example", type::A, 1, false, false, false)));
    EXPECT_FALSE(lookup(cache, query("fail.example", type::AAAA)));
    now_ += std::chrono::milliseconds(4999);
    EXPECT_TRUE(lookup(cache, q));
    now_ += std::chrono::milliseconds(1);
    EXPECT_FALSE(lookup(cache, q));
}

// Issue 12, RFC 6840 §5.7: AD in an answer only when the query had AD or DO, whoever asked
// first. An AD=1 answer is served with AD cleared to a query with neither.
TEST_F(DnsCacheTest, AdIsClearedForAQueryWithoutAdOrDo) {
    DnsCache cache(100, clock_);
    Bytes withAd = query("signed.example");
    withAd[3] |= 0x20;
    Bytes validated = positive("signed.example", 300);
    validated[3] |= 0x20;
    store(cache, withAd, validated);

    const auto plain = lookup(cache, query("signed.example"));
    ASSERT_TRUE(plain);
    EXPECT_FALSE(parseOrDie(*plain).header.ad());
    const auto again = lookup(cache, withAd);
    ASSERT_TRUE(again);
    EXPECT_TRUE(parseOrDie(*again).header.ad());
    EXPECT_EQ(cache.hits(), 2u);
}

// Issue 12: the answer to an AD=0, DO=0 query has AD clear whether the data validated or not,
// so it cannot serve a query with AD: that one goes upstream, and its answer replaces the
// entry; a later AD=0 answer does not replace it back while it is fresh.
TEST_F(DnsCacheTest, AnEntryFetchedWithoutAdDoesNotServeAQueryWithAd) {
    DnsCache cache(100, clock_);
    Bytes withAd = query("signed.example");
    withAd[3] |= 0x20;
    store(cache, query("signed.example"), positive("signed.example", 300));
    EXPECT_TRUE(lookup(cache, query("signed.example")));
    EXPECT_FALSE(lookup(cache, withAd));
    EXPECT_EQ(cache.size(), 1u);  // kept for the plain queries

    Bytes validated = positive("signed.example", 300);
    validated[3] |= 0x20;
    store(cache, withAd, validated);
    store(cache, query("signed.example"), positive("signed.example", 300));
    const auto hit = lookup(cache, withAd);
    ASSERT_TRUE(hit);
    EXPECT_TRUE(parseOrDie(*hit).header.ad());
    EXPECT_EQ(cache.size(), 1u);

    // Expired, it is replaced by whatever comes.
    now_ += std::chrono::seconds(300);
    store(cache, query("signed.example"), positive("signed.example", 300));
    EXPECT_FALSE(lookup(cache, withAd));
    EXPECT_TRUE(lookup(cache, query("signed.example")));
}

// DO=1 makes AD meaningful without AD in the query (RFC 6840 §5.7).
TEST_F(DnsCacheTest, DoMakesAdMeaningful) {
    DnsCache cache(100, clock_);
    const Bytes withDo = query("signed.example", type::A, 1, true);
    Bytes validated = MessageBuilder()
                          .id(0xffff)
                          .response()
                          .question("signed.example", type::A)
                          .answer(type::A, 300, kAddress)
                          .opt(1232, true)
                          .build();
    validated[3] |= 0x20;
    store(cache, withDo, validated);
    const auto hit = lookup(cache, query("signed.example", type::A, 2, true));
    ASSERT_TRUE(hit);
    EXPECT_TRUE(parseOrDie(*hit).header.ad());
}

TEST_F(DnsCacheTest, CapacityZeroDisables) {
    DnsCache cache(0, clock_);
    const Bytes q = query("a.example");
    store(cache, q, positive("a.example", 300));
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_FALSE(lookup(cache, q));
    EXPECT_EQ(cache.misses(), 1u);
    cache.setCapacity(10);
    store(cache, q, positive("a.example", 300));
    EXPECT_TRUE(lookup(cache, q));
    cache.setCapacity(0);
    EXPECT_EQ(cache.size(), 0u);
}

TEST_F(DnsCacheTest, ClearEmptiesButKeepsCounters) {
    DnsCache cache(10, clock_);
    const Bytes q = query("a.example");
    store(cache, q, positive("a.example", 300));
    ASSERT_TRUE(lookup(cache, q));
    cache.clear();
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_EQ(cache.bytes(), 0u);
    EXPECT_FALSE(lookup(cache, q));
    EXPECT_EQ(cache.hits(), 1u);
    EXPECT_EQ(cache.misses(), 1u);
}

TEST_F(DnsCacheTest, ByteBudgetBoundsHugeAnswers) {
    DnsCache cache(1, clock_);
    const Bytes q = query("big.example", type::TXT);
    MessageBuilder big;
    big.response().question("big.example", type::TXT);
    for (int i = 0; i < 20; ++i)
        big.answer(type::TXT, 300, Bytes(250, 'x'));
    store(cache, q, big.build());  // ~5.3 KB > 1 × kBytesPerEntry
    EXPECT_EQ(cache.size(), 0u);
}

// RFC 8767 §4: an expired answer is kept up to max_stale and served with TTL 30, never as a
// fresh hit.
TEST_F(DnsCacheTest, ExpiredAnswersAreServedStaleUpToMaxStale) {
    DnsCache cache(100, clock_);
    cache.setServeStale(std::chrono::hours(24), 30);
    const Bytes q = query("stale.example");
    store(cache, q, positive("stale.example", 300));
    EXPECT_FALSE(cache.hasStale(parseOrDie(q)));  // fresh, not stale
    now_ += 300s;
    EXPECT_FALSE(lookup(cache, q));  // a fresh lookup misses...
    EXPECT_EQ(cache.size(), 1u);     // ...but keeps the entry
    ASSERT_TRUE(cache.hasStale(parseOrDie(q)));
    const Bytes asked = query("STALE.example", type::A, 0x4321);
    const auto stale = cache.lookupStale(asked, parseOrDie(asked));
    ASSERT_TRUE(stale);
    EXPECT_EQ(firstTtl(*stale), 30u);
    EXPECT_EQ(getId(*stale), 0x4321);
    EXPECT_EQ(parseOrDie(*stale).qnameWire, parseOrDie(asked).qnameWire);
    EXPECT_EQ(cache.staleServed(), 1u);
    now_ += std::chrono::hours(24) - 1ms;
    EXPECT_TRUE(cache.lookupStale(q, parseOrDie(q)));
    now_ += 1ms;
    EXPECT_FALSE(cache.lookupStale(q, parseOrDie(q)));
    EXPECT_FALSE(lookup(cache, q));
    EXPECT_EQ(cache.size(), 0u);
}

TEST_F(DnsCacheTest, StaleAnswersCarryTheStaleTtl) {
    DnsCache cache(100, clock_);
    cache.setServeStale(std::chrono::hours(1), 30);
    const Bytes q = query("short.example");
    store(cache, q, positive("short.example", 12));
    now_ += 13s;
    const auto stale = cache.lookupStale(q, parseOrDie(q));
    ASSERT_TRUE(stale);
    EXPECT_EQ(firstTtl(*stale), 30u);
}

TEST_F(DnsCacheTest, MaxStaleZeroTurnsServeStaleOff) {
    DnsCache cache(100, clock_);
    cache.setServeStale(0s, 30);
    const Bytes q = query("off.example");
    store(cache, q, positive("off.example", 60));
    now_ += 60s;
    EXPECT_FALSE(cache.hasStale(parseOrDie(q)));
    EXPECT_FALSE(cache.lookupStale(q, parseOrDie(q)));
    EXPECT_FALSE(lookup(cache, q));
    EXPECT_EQ(cache.size(), 0u);
}

// A failed refresh must not take the good answer away: the SERVFAIL is not stored over it,
// the stale answer stays, and the recheck timer (RFC 8767 §4, 30 s) starts.
TEST_F(DnsCacheTest, ServFailNeverReplacesAGoodStaleAnswer) {
    DnsCache cache(100, clock_);
    cache.setServeStale(std::chrono::hours(24), 30);
    const Bytes q = query("flaky.example");
    const Message parsedQuery = parseOrDie(q);
    store(cache, q, positive("flaky.example", 60));
    now_ += 61s;
    store(cache, q, errorResponse(q, &parsedQuery, Rcode::ServFail));
    EXPECT_FALSE(lookup(cache, q));  // no cached SERVFAIL answers it
    const auto stale = cache.lookupStale(q, parsedQuery);
    ASSERT_TRUE(stale);
    EXPECT_EQ(parseOrDie(*stale).header.rcode(), 0);
    EXPECT_TRUE(cache.refreshFailedRecently(parsedQuery));
    now_ += DnsCache::kFailureRecheck;
    EXPECT_FALSE(cache.refreshFailedRecently(parsedQuery));
    EXPECT_TRUE(cache.hasStale(parsedQuery));
    // A good answer replaces the stale one and clears the recheck.
    cache.refreshFailed(parsedQuery);
    store(cache, q, positive("flaky.example", 60));
    EXPECT_FALSE(cache.refreshFailedRecently(parsedQuery));
    EXPECT_TRUE(lookup(cache, q));
}

TEST_F(DnsCacheTest, ACachedServFailIsNeverServedStale) {
    DnsCache cache(100, clock_);
    cache.setServeStale(std::chrono::hours(24), 30);
    const Bytes q = query("down.example");
    const Message parsedQuery = parseOrDie(q);
    store(cache, q, errorResponse(q, &parsedQuery, Rcode::ServFail));
    now_ += 5s;
    EXPECT_FALSE(cache.hasStale(parsedQuery));
    EXPECT_FALSE(cache.lookupStale(q, parsedQuery));
    EXPECT_FALSE(lookup(cache, q));
}

TEST_F(DnsCacheTest, StaleAnswersKeepTheAdRule) {
    DnsCache cache(100, clock_);
    cache.setServeStale(std::chrono::hours(1), 30);
    const Bytes plain = query("ad.example");
    store(cache, plain, positive("ad.example", 60));
    now_ += 61s;
    const Bytes withDo = query("ad.example", type::A, 1, true);
    EXPECT_TRUE(cache.hasStale(parseOrDie(plain)));
    // Another key (DO), and fetched without AD meaning anyway.
    EXPECT_FALSE(cache.hasStale(parseOrDie(withDo)));
}

// Expired entries count against the bounds and are evicted before any live one, however
// recently they were used.
TEST_F(DnsCacheTest, StaleEntriesAreEvictedFirst) {
    DnsCache cache(2, clock_);
    cache.setServeStale(std::chrono::hours(24), 30);
    const Bytes a = query("a.example");
    const Bytes b = query("b.example");
    const Bytes c = query("c.example");
    store(cache, a, positive("a.example", 300));
    store(cache, b, positive("b.example", 10));
    now_ += 11s;
    ASSERT_TRUE(cache.lookupStale(b, parseOrDie(b)));  // b is stale
    ASSERT_TRUE(lookup(cache, a));
    EXPECT_EQ(cache.staleEntries(), 1u);
    store(cache, c, positive("c.example", 300));
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_TRUE(lookup(cache, a));
    EXPECT_TRUE(lookup(cache, c));
    EXPECT_FALSE(cache.hasStale(parseOrDie(b)));
}

// Prefetch: the hit within the last tenth of the TTL is told to refresh, once.
TEST_F(DnsCacheTest, PrefetchIsAskedOnceWithinTheLastTenthOfTheTtl) {
    DnsCache cache(100, clock_);
    const Bytes q = query("popular.example");
    store(cache, q, positive("popular.example", 100));
    bool prefetch = true;
    now_ += 89s;
    ASSERT_TRUE(cache.lookup(q, parseOrDie(q), &prefetch));
    EXPECT_FALSE(prefetch);
    now_ += 1s;
    ASSERT_TRUE(cache.lookup(q, parseOrDie(q), &prefetch));
    EXPECT_TRUE(prefetch);
    ASSERT_TRUE(cache.lookup(q, parseOrDie(q), &prefetch));
    EXPECT_FALSE(prefetch);  // already started
    // The refreshed answer may be prefetched again near its own end.
    store(cache, q, positive("popular.example", 100));
    now_ += 95s;
    ASSERT_TRUE(cache.lookup(q, parseOrDie(q), &prefetch));
    EXPECT_TRUE(prefetch);
}

TEST_F(DnsCacheTest, ShortTtlsAndFailuresAreNotPrefetched) {
    DnsCache cache(100, clock_);
    const Bytes q = query("short.example");
    store(cache, q, positive("short.example", 9));
    bool prefetch = true;
    now_ += 8s;
    ASSERT_TRUE(cache.lookup(q, parseOrDie(q), &prefetch));
    EXPECT_FALSE(prefetch);
    const Bytes f = query("fail.example");
    const Message parsedF = parseOrDie(f);
    store(cache, f, errorResponse(f, &parsedF, Rcode::ServFail));
    now_ += 4900ms;
    ASSERT_TRUE(cache.lookup(f, parsedF, &prefetch));
    EXPECT_FALSE(prefetch);
}

TEST_F(DnsCacheTest, DefaultClockWorks) {
    DnsCache cache(10, nullptr);
    const Bytes q = query("a.example");
    store(cache, q, positive("a.example", 300));
    EXPECT_TRUE(lookup(cache, q));
}

// prefix + five digits under `zone`: the answers of one test have one size.
std::string numbered(const char* prefix, int n, const char* zone = "example.net") {
    char name[64];
    std::snprintf(name, sizeof name, "%s%05d.%s", prefix, n, zone);
    return name;
}

// A query and its answer, parsed ahead so that only the cache runs between the counts.
struct Exchange {
    Bytes queryBytes;
    Bytes answerBytes;
    Message query;
    Message answer;
};

Exchange makeExchange(std::string_view name, uint32_t ttl) {
    MessageBuilder builder;
    builder.id(7).flags(0x0100).question(name, type::A).opt(1232, false);
    Exchange out;
    out.queryBytes = builder.build();
    out.answerBytes = MessageBuilder()
                          .id(7)
                          .response()
                          .question(name, type::A)
                          .answer(type::A, ttl, kAddress)
                          .opt()
                          .build();
    out.query = parseOrDie(out.queryBytes);
    out.answer = parseOrDie(out.answerBytes);
    return out;
}

// Issue 8: a miss into a full cache (insert and eviction) allocated and freed ~6 heap blocks
// (list node, name, answer, record offsets, index node, expiry node); the evicted answer's
// block now takes the new one.
TEST_F(DnsCacheTest, AFullCacheStoresWithoutAllocating) {
    DnsCache cache(100, clock_);
    std::vector<Exchange> exchanges;
    for (int i = 0; i < 300; ++i)
        exchanges.push_back(makeExchange(numbered("m", i), 300));
    for (int i = 0; i < 200; ++i)  // full, and churned once
        cache.store(exchanges[i].query, exchanges[i].answerBytes, exchanges[i].answer);
    ASSERT_EQ(cache.size(), 100u);

    const size_t calls = allocationCalls;
    const size_t frees = freeCalls;
    for (int i = 200; i < 300; ++i)
        cache.store(exchanges[i].query, exchanges[i].answerBytes, exchanges[i].answer);
    const size_t allocated = allocationCalls - calls;
    const size_t freed = freeCalls - frees;
    EXPECT_EQ(allocated, 0u);
    EXPECT_EQ(freed, 0u);
    EXPECT_EQ(cache.size(), 100u);
    for (int i = 200; i < 300; ++i)
        EXPECT_TRUE(cache.lookup(exchanges[i].queryBytes, exchanges[i].query)) << i;
    EXPECT_FALSE(cache.lookup(exchanges[199].queryBytes, exchanges[199].query));
}

// Issue 8: a cached A answer (~60 bytes on the wire) cost ~730 bytes of the daemon's memory.
// What the cache holds of the heap per typical entry, the allocator's own overhead, the index
// and the expiry order included (glibc's count of bytes in use).
TEST_F(DnsCacheTest, ATypicalAnswerCostsFewBytes) {
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
    std::vector<Exchange> exchanges;
    for (int i = 0; i < 1000; ++i)
        exchanges.push_back(makeExchange(numbered("host", i), 300));
    DnsCache cache(1000, clock_);
    const size_t before = mallinfo2().uordblks;
    for (const Exchange& e : exchanges)
        cache.store(e.query, e.answerBytes, e.answer);
    ASSERT_EQ(cache.size(), 1000u);
    const size_t perEntry = (mallinfo2().uordblks - before) / 1000;
    EXPECT_LE(perEntry, 256u) << "answers of " << exchanges[0].answerBytes.size() << " bytes";
#else
    GTEST_SKIP() << "glibc's mallinfo2() measures it";
#endif
}

// Under churn with answers of every size, the cache holds exactly what its index finds: never
// more than `capacity` answers or the byte budget, and `capacity` once only small ones arrive.
TEST_F(DnsCacheTest, ChurnKeepsTheCountAndTheByteBudget) {
    constexpr size_t kCapacity = 8;
    DnsCache cache(kCapacity, clock_);
    std::vector<Exchange> exchanges;
    uint32_t seed = 12345;
    const auto next = [&seed] {
        seed = seed * 1103515245u + 12345u;
        return (seed >> 16) & 0x7fff;
    };
    for (int i = 0; i < 60; ++i) {
        const std::string name = numbered("c", i);
        Exchange e = makeExchange(name, 300);
        if (i % 3 == 0) {  // TXT sets of 1 to 9 KB: three or four of them fill the byte budget
            MessageBuilder big;
            big.response().question(name, type::TXT);
            for (uint32_t r = 0, n = 4 + next() % 32; r < n; ++r)
                big.answer(type::TXT, 300, Bytes(250, 'x'));
            big.opt();
            MessageBuilder q;
            q.id(7).flags(0x0100).question(name, type::TXT).opt(1232, false);
            e.queryBytes = q.build();
            e.answerBytes = big.build();
            e.query = parseOrDie(e.queryBytes);
            e.answer = parseOrDie(e.answerBytes);
        }
        exchanges.push_back(std::move(e));
    }
    for (int round = 0; round < 3000; ++round) {
        const Exchange& e = exchanges[next() % exchanges.size()];
        if (next() % 4 == 0)
            cache.erase(numbered("c", static_cast<int>(next() % exchanges.size())));
        else
            cache.store(e.query, e.answerBytes, e.answer);
        now_ += 1ms;
        ASSERT_LE(cache.size(), kCapacity);
        ASSERT_LE(cache.bytes(), kCapacity * DnsCache::kBytesPerEntry);
    }
    size_t found = 0;
    size_t bytes = 0;
    for (const Exchange& e : exchanges) {
        if (auto hit = cache.lookup(e.queryBytes, e.query)) {
            ++found;
            bytes += hit->size();
        }
    }
    EXPECT_EQ(found, cache.size());
    EXPECT_EQ(bytes, cache.bytes());
    for (const Exchange& e : exchanges) {
        if (e.query.qtype == type::A)
            cache.store(e.query, e.answerBytes, e.answer);
    }
    EXPECT_EQ(cache.size(), kCapacity);
}

// The expiry order after many inserts, replacements and erasures: staleEntries() counts
// exactly the expired answers, a full cache evicts the one expired longest first, and
// answers past maxStale are dropped, all of them and no other.
TEST_F(DnsCacheTest, TheExpiryOrderSurvivesChurn) {
    constexpr int kCapacity = 200;
    DnsCache cache(kCapacity, clock_);
    cache.setServeStale(std::chrono::seconds(3600), 30);
    std::map<std::string, std::chrono::steady_clock::time_point> expires;  // the model
    std::vector<Exchange> exchanges;
    uint32_t seed = 777;
    const auto next = [&seed] {
        seed = seed * 1103515245u + 12345u;
        return (seed >> 16) & 0x7fff;
    };
    for (int i = 0; i < 400; ++i) {
        const std::string name = numbered("e", i % kCapacity);
        const uint32_t ttl = 1 + next() % 1000;
        Exchange e = makeExchange(name, ttl);
        cache.store(e.query, e.answerBytes, e.answer);  // the second round replaces
        expires[name] = now_ + std::chrono::seconds(ttl);
        if (i % 7 == 3) {
            const std::string gone = numbered("e", static_cast<int>(next() % kCapacity));
            if (cache.erase(gone) == 1)
                expires.erase(gone);
        }
        now_ += 3ms;  // every expiry distinct
    }
    ASSERT_EQ(cache.size(), expires.size());
    const auto expiredCount = [&] {
        return static_cast<size_t>(std::count_if(expires.begin(), expires.end(),
                                                 [&](const auto& e) { return e.second <= now_; }));
    };
    for (int step = 0; step < 5; ++step) {
        now_ += 150s;
        EXPECT_EQ(cache.staleEntries(), expiredCount()) << step;
    }
    // now_ is ~750 s on, most answers are stale: fill up with fresh answers; each one past capacity
    // evicts the answer expired longest ago.
    for (int i = 0; cache.size() < static_cast<size_t>(kCapacity) || i < 80; ++i) {
        Exchange e = makeExchange(numbered("f", i), 5000);
        const bool full = cache.size() == static_cast<size_t>(kCapacity);
        cache.store(e.query, e.answerBytes, e.answer);
        if (full) {
            const auto oldest =
                std::min_element(expires.begin(), expires.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
            ASSERT_NE(oldest, expires.end());
            const Exchange gone = makeExchange(oldest->first, 1);
            EXPECT_FALSE(cache.hasStale(gone.query)) << oldest->first;
            expires.erase(oldest);
        }
        expires[numbered("f", i)] = now_ + std::chrono::seconds(5000);
        ASSERT_EQ(cache.size(), expires.size());
    }
    for (const auto& [name, at] : expires) {
        if (at <= now_) {
            EXPECT_TRUE(cache.hasStale(makeExchange(name, 1).query)) << name;
        }
    }
    // Past maxStale: setServeStale() drops the dead, exactly those.
    now_ += 3300s;
    size_t dead = 0;
    for (const auto& [name, at] : expires)
        dead += at + std::chrono::seconds(3600) <= now_ ? 1 : 0;
    ASSERT_GT(dead, 0u);
    ASSERT_LT(dead, expires.size());
    const size_t before = cache.size();
    cache.setServeStale(std::chrono::seconds(3600), 30);
    EXPECT_EQ(cache.size(), before - dead);
}

// The key's name is read from the stored question, which is kept lower-case: an upstream
// echoing another spelling (0x20) changes neither lookups nor erase().
TEST_F(DnsCacheTest, TheUpstreamsSpellingOfTheQuestionIsNotTheKey) {
    DnsCache cache(10, clock_);
    const Bytes q = query("wWw.Example.COM", type::A, 0x1111);
    store(cache, q, positive("WwW.ExAmple.com", 300));
    const auto hit = lookup(cache, query("WWW.EXAMPLE.COM", type::A, 0x2222));
    ASSERT_TRUE(hit);
    EXPECT_EQ(parseOrDie(*hit).header.id, 0x2222);
    const Bytes spelled = query("WWW.EXAMPLE.COM", type::A, 0x2222);
    EXPECT_TRUE(std::equal(spelled.begin() + kHeaderSize, spelled.begin() + 33,
                           hit->begin() + kHeaderSize));
    EXPECT_EQ(cache.erase("Www.Example.Com."), 1u);
    EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace dynamo::dns
