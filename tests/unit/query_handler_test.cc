// The transport-neutral query path, in process: a mock upstream on loopback and a fake clock.

#include "resolver/query_handler.h"

#include <gtest/gtest.h>

#include "dns_test_util.h"
#include "event_loop_util.h"
#include "mock_dns_server.h"

namespace dynamo::resolver {
namespace {

using dns::test::Bytes;
using dns::test::MessageBuilder;

const net::IpAddress kLocal = *net::IpAddress::parse("192.168.1.2");

Bytes aAnswer(const Bytes& query, uint32_t ttl) {
    auto parsed = dns::test::parseOrDie(query);
    return MessageBuilder()
        .id(dns::getId(query))
        .response()
        .question(parsed.qname(), parsed.qtype)
        .answer(dns::type::A, ttl, {192, 0, 2, 7})
        .build();
}

class QueryHandlerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        base_.reset(event_base_new());
        upstream_ = std::make_unique<test::MockDnsServer>(
            base_.get(), [this](const Bytes& q, bool) -> std::optional<Bytes> {
                if (silent_)
                    return std::nullopt;
                return aAnswer(q, 300);
            });
        config_.upstreams = {upstream_->address()};
        config_.allow = net::CidrSet({*net::Cidr::parse("127.0.0.0/8")});
        config_.upstreamTimeout = std::chrono::milliseconds(600);
        makeHandler();
    }

    void makeHandler() {
        std::string error;
        auto forwarder =
            Forwarder::create(base_.get(), QueryHandler::forwarderSettings(config_), &error);
        ASSERT_TRUE(forwarder) << error;
        handler_ = std::make_unique<QueryHandler>(
            config_, std::move(forwarder), [this] { return now_; }, std::vector<net::IpAddress>{});
    }

    // Sends one query and waits for its answer; nullopt when the handler dropped it.
    std::optional<Bytes> ask(const Bytes& query, Transport transport = Transport::Udp,
                             const char* client = "127.0.0.1") {
        std::optional<Bytes> answer;
        const QueryContext context{net::SocketAddress(*net::IpAddress::parse(client), 40000),
                                   kLocal, transport};
        const bool accepted = handler_->handle(query, context, [&](std::span<const uint8_t> a) {
            answer = Bytes(a.begin(), a.end());
        });
        if (!accepted)
            return std::nullopt;
        EXPECT_TRUE(test::runUntil(base_.get(), [&] { return answer.has_value(); }));
        return answer;
    }

    static uint8_t rcode(const Bytes& answer) { return dns::readHeader(answer)->rcode(); }

    net::EventBasePtr base_;
    std::unique_ptr<test::MockDnsServer> upstream_;
    config::DnsConfig config_;
    std::unique_ptr<QueryHandler> handler_;
    std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
    bool silent_ = false;
};

TEST_F(QueryHandlerTest, ResponsesAndRuntsAreDropped) {
    EXPECT_FALSE(ask(MessageBuilder().response().question("a.example", dns::type::A).build()));
    EXPECT_FALSE(ask(Bytes{1, 2, 3}));
    EXPECT_EQ(handler_->stats().dropped, 2u);
    EXPECT_EQ(upstream_->queries(), 0u);
}

TEST_F(QueryHandlerTest, ClientsOutsideTheAccessListAreRefused) {
    auto answer = ask(MessageBuilder().question("a.example", dns::type::A).build(), Transport::Udp,
                      "203.0.113.9");
    ASSERT_TRUE(answer);
    EXPECT_EQ(rcode(*answer), static_cast<uint8_t>(dns::Rcode::Refused));
    EXPECT_EQ(upstream_->queries(), 0u);
}

TEST_F(QueryHandlerTest, GarbageGetsFormErrWithTheClientsId) {
    Bytes garbage = MessageBuilder().id(0x4242).question("a.example", dns::type::A).build();
    garbage.push_back(0xff);  // trailing garbage
    auto answer = ask(garbage);
    ASSERT_TRUE(answer);
    EXPECT_EQ(rcode(*answer), static_cast<uint8_t>(dns::Rcode::FormErr));
    EXPECT_EQ(dns::getId(*answer), 0x4242);
}

// A query carries a question and at most an OPT, and is small: anything else could make every
// forwarder waiter hold up to 64 KiB, and is no query a device sends.
TEST_F(QueryHandlerTest, QueriesWithAnswersAuthorityOrSeveralAdditionalsGetFormErr) {
    const Bytes withAnswer = MessageBuilder()
                                 .question("a.example", dns::type::A)
                                 .answer(dns::type::A, 60, {192, 0, 2, 1})
                                 .build();
    const Bytes withAuthority =
        MessageBuilder().question("example.com", dns::type::A).soa(60, 60).build();
    const Bytes twoAdditional = MessageBuilder()
                                    .question("b.example", dns::type::A)
                                    .record(dns::Section::Additional, dns::test::wireName("x"),
                                            dns::type::A, 60, {192, 0, 2, 1})
                                    .opt()
                                    .build();
    for (const Bytes& query : {withAnswer, withAuthority, twoAdditional}) {
        auto answer = ask(query);
        ASSERT_TRUE(answer);
        EXPECT_EQ(rcode(*answer), static_cast<uint8_t>(dns::Rcode::FormErr));
    }
    EXPECT_EQ(handler_->stats().formErr, 3u);
    EXPECT_EQ(upstream_->queries(), 0u);
}

TEST_F(QueryHandlerTest, QueriesOver4096BytesGetFormErr) {
    const Bytes padding = [] {
        Bytes option;
        dns::test::put16(option, 12);  // PADDING, RFC 7830
        dns::test::put16(option, 4100);
        option.resize(option.size() + 4100, 0);
        return option;
    }();
    const Bytes big = MessageBuilder()
                          .question("big.example", dns::type::A)
                          .opt(1232, false, dns::Section::Additional, padding)
                          .build();
    ASSERT_GT(big.size(), 4096u);
    auto answer = ask(big, Transport::Tcp);
    ASSERT_TRUE(answer);
    EXPECT_EQ(rcode(*answer), static_cast<uint8_t>(dns::Rcode::FormErr));
    EXPECT_LT(answer->size(), 100u);  // the question and our own OPT, not the padding
    EXPECT_EQ(upstream_->queries(), 0u);

    // One OPT with a cookie, well under the bound, is forwarded as before.
    const Bytes cookie = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    auto normal = ask(MessageBuilder()
                          .question("ok.example", dns::type::A)
                          .opt(1232, false, dns::Section::Additional, cookie)
                          .build());
    ASSERT_TRUE(normal);
    EXPECT_EQ(rcode(*normal), static_cast<uint8_t>(dns::Rcode::NoError));
}

TEST_F(QueryHandlerTest, IdenticalQueriesPastTheWaiterBoundGetServFail) {
    silent_ = true;
    config_.upstreamTimeout = std::chrono::milliseconds(3000);
    makeHandler();
    const Bytes query = MessageBuilder().question("hot.example", dns::type::A).build();
    const QueryContext context{net::SocketAddress(*net::IpAddress::parse("127.0.0.1"), 40000),
                               kLocal, Transport::Udp};
    int servFail = 0;
    for (int i = 0; i < 70; ++i) {
        handler_->handle(query, context, [&](std::span<const uint8_t> a) {
            servFail += dns::readHeader(a)->rcode() == static_cast<uint8_t>(dns::Rcode::ServFail);
        });
    }
    EXPECT_EQ(servFail, 6);  // answered at once: 64 wait for the one upstream query
    EXPECT_EQ(handler_->forwarder().waiters(), 64u);
}

TEST_F(QueryHandlerTest, OtherOpcodesGetNotImp) {
    auto answer = ask(
        MessageBuilder().flags(0x2800).question("a.example", dns::type::SOA).build());  // UPDATE
    ASSERT_TRUE(answer);
    EXPECT_EQ(rcode(*answer), static_cast<uint8_t>(dns::Rcode::NotImp));
}

TEST_F(QueryHandlerTest, InterceptedNamesAreAnsweredWithTheLocalAddress) {
    auto answer = ask(MessageBuilder().question("Members.DynDNS.org", dns::type::A).build());
    ASSERT_TRUE(answer);
    auto parsed = dns::test::parseOrDie(*answer);
    EXPECT_TRUE(parsed.header.aa());
    ASSERT_EQ(parsed.records.size(), 1u);
    EXPECT_EQ(Bytes(answer->begin() + static_cast<long>(parsed.records[0].rdataOffset),
                    answer->begin() + static_cast<long>(parsed.records[0].rdataOffset) + 4),
              (Bytes{192, 168, 1, 2}));
    EXPECT_EQ(upstream_->queries(), 0u);
}

TEST_F(QueryHandlerTest, InterceptedNamesAnswerBadVersToEdnsVersionOne) {
    dns::test::Bytes query =
        MessageBuilder().question("members.dyndns.org", dns::type::A).opt(1232).build();
    query[query.size() - 5] = 1;  // OPT TTL: ext-rcode, VERSION = 1, flags
    auto answer = ask(query);
    ASSERT_TRUE(answer);
    auto parsed = dns::test::parseOrDie(*answer);
    EXPECT_EQ(parsed.header.rcode(), 0);
    ASSERT_TRUE(parsed.edns);
    EXPECT_EQ(parsed.edns->extendedRcode, 1);  // BADVERS = 16 = 1 << 4 | 0
    EXPECT_EQ(parsed.edns->version, 0);
    EXPECT_TRUE(parsed.records.empty());
}

TEST_F(QueryHandlerTest, ASecondQueryIsServedFromTheCacheWithItsTtlDecremented) {
    const Bytes query = MessageBuilder().question("cached.example", dns::type::A).build();
    auto first = ask(query);
    ASSERT_TRUE(first);
    now_ += std::chrono::seconds(100);
    auto second = ask(query);
    ASSERT_TRUE(second);
    EXPECT_EQ(upstream_->queries(), 1u);
    auto parsed = dns::test::parseOrDie(*second);
    EXPECT_EQ(parsed.records.at(0).ttl, 200u);

    EXPECT_EQ(handler_->forgetName("CACHED.example."), 1u);
    ask(query);
    EXPECT_EQ(upstream_->queries(), 2u);
}

TEST_F(QueryHandlerTest, ADeadUpstreamGivesServFailNotSilence) {
    silent_ = true;
    auto answer = ask(MessageBuilder().question("dead.example", dns::type::A).build());
    ASSERT_TRUE(answer);
    EXPECT_EQ(rcode(*answer), static_cast<uint8_t>(dns::Rcode::ServFail));
    EXPECT_EQ(handler_->stats().servFail, 1u);
}

TEST_F(QueryHandlerTest, BigAnswersAreTruncatedForUdpAndWholeForTcp) {
    upstream_->setResponder([](const Bytes& q, bool) -> std::optional<Bytes> {
        auto parsed = dns::test::parseOrDie(q);
        MessageBuilder builder;
        builder.id(dns::getId(q)).response().question(parsed.qname(), parsed.qtype);
        for (int i = 0; i < 4; ++i)
            builder.answer(dns::type::TXT, 60, Bytes(201, 'x'));
        return builder.build();  // ~850 bytes: over 512, under c-ares' 4096
    });
    const Bytes query = MessageBuilder().question("big.example", dns::type::TXT).build();
    auto udp = ask(query, Transport::Udp);
    ASSERT_TRUE(udp);
    EXPECT_TRUE(dns::readHeader(*udp)->tc());
    EXPECT_LE(udp->size(), 512u);
    auto tcp = ask(query, Transport::Tcp);
    ASSERT_TRUE(tcp);
    EXPECT_FALSE(dns::readHeader(*tcp)->tc());
    EXPECT_GT(tcp->size(), 800u);
}

// Issue 12: a TC=1 query went upstream as it was; Unbound's FORMERR to it made c-ares retry a
// query 11 bytes short, and the client got SERVFAIL at the timeout. TC is cleared on the way.
TEST_F(QueryHandlerTest, TcInAQueryIsClearedBeforeForwarding) {
    const Bytes query = MessageBuilder().flags(0x0300).question("tc.example", dns::type::A).build();
    upstream_->setResponder([](const Bytes& q, bool) -> std::optional<Bytes> {
        if (dns::readHeader(q)->tc())  // as Unbound: FORMERR, question echoed, no OPT
            return MessageBuilder()
                .id(dns::getId(q))
                .response(dns::Rcode::FormErr)
                .question("tc.example", dns::type::A)
                .build();
        return aAnswer(q, 300);
    });
    auto answer = ask(query);
    ASSERT_TRUE(answer);
    EXPECT_EQ(rcode(*answer), static_cast<uint8_t>(dns::Rcode::NoError));
    EXPECT_FALSE(dns::readHeader(*answer)->tc());
    ASSERT_EQ(upstream_->udpQueries().size(), 1u);
    EXPECT_FALSE(dns::readHeader(upstream_->udpQueries()[0])->tc());
}

// Issue 12: EDNS version 1 was answered NOERROR from the cache a version 0 query had filled.
TEST_F(QueryHandlerTest, EdnsVersionOneGetsBadVersForForwardedNamesEvenWhenCached) {
    const Bytes v0 = MessageBuilder().question("v.example", dns::type::A).opt(1232).build();
    ASSERT_TRUE(ask(v0));
    Bytes v1 = v0;
    v1[v1.size() - 5] = 1;                     // OPT TTL: ext-rcode, VERSION = 1, flags
    for (int round = 0; round < 2; ++round) {  // warm, then with the BADVERS just given
        auto answer = ask(v1);
        ASSERT_TRUE(answer);
        auto parsed = dns::test::parseOrDie(*answer);
        ASSERT_TRUE(parsed.edns);
        EXPECT_EQ(parsed.edns->extendedRcode, 1);  // BADVERS
        EXPECT_EQ(parsed.edns->version, 0);
        EXPECT_TRUE(parsed.records.empty());
    }
    EXPECT_EQ(upstream_->queries(), 1u);
    EXPECT_EQ(handler_->stats().badVers, 2u);
    auto again = ask(v0);  // and the cached version 0 answer is untouched
    ASSERT_TRUE(again);
    EXPECT_EQ(dns::test::parseOrDie(*again).records.size(), 1u);
}

// Issue 12, RFC 8906 §8.1.4: an unknown opcode in a header-only query (QDCOUNT 0) got FORMERR.
TEST_F(QueryHandlerTest, UnknownOpcodeWithoutAQuestionGetsNotImp) {
    auto bare = ask(MessageBuilder().flags(0x7900).build());  // opcode 15, RD
    ASSERT_TRUE(bare);
    auto header = dns::readHeader(*bare);
    EXPECT_EQ(header->rcode(), static_cast<uint8_t>(dns::Rcode::NotImp));
    EXPECT_EQ(header->opcode(), 15);
    EXPECT_TRUE(header->qr());
    EXPECT_FALSE(header->aa());
    EXPECT_EQ(bare->size(), dns::kHeaderSize);

    auto withOpt = ask(MessageBuilder().flags(0x7900).opt(1232).build());
    ASSERT_TRUE(withOpt);
    // Header and an OPT (RFC 6891 §7) of version 0: root owner, TYPE 41, CLASS = payload,
    // TTL = ext-rcode, version, flags. dns::parse() wants a question, so read it by hand.
    header = dns::readHeader(*withOpt);
    EXPECT_EQ(header->rcode(), static_cast<uint8_t>(dns::Rcode::NotImp));
    EXPECT_EQ(header->qdcount, 0);
    ASSERT_EQ(header->arcount, 1);
    ASSERT_EQ(withOpt->size(), dns::kHeaderSize + 11);
    EXPECT_EQ((*withOpt)[12], 0);
    EXPECT_EQ(((*withOpt)[13] << 8) | (*withOpt)[14], dns::type::OPT);
    EXPECT_EQ((*withOpt)[17], 0);  // extended rcode
    EXPECT_EQ((*withOpt)[18], 0);  // version
    EXPECT_EQ(upstream_->queries(), 0u);
    EXPECT_EQ(handler_->stats().notImp, 2u);
}

// Issue 12: an RD=0 query the upstream refused became SERVFAIL, cached for 5 s for RD=1
// clients. The RD=0 client gets REFUSED, nothing is cached, and RD=1 goes upstream.
TEST_F(QueryHandlerTest, RdZeroRefusedByTheUpstreamIsRefusedAndNotCached) {
    upstream_->setResponder([](const Bytes& q, bool) -> std::optional<Bytes> {
        if (!dns::readHeader(q)->rd())
            return MessageBuilder()
                .id(dns::getId(q))
                .response(dns::Rcode::Refused)
                .question("norec.example", dns::type::A)
                .build();
        return aAnswer(q, 300);
    });
    const Bytes norec = MessageBuilder().flags(0).question("norec.example", dns::type::A).build();
    auto refused = ask(norec);
    ASSERT_TRUE(refused);
    EXPECT_EQ(rcode(*refused), static_cast<uint8_t>(dns::Rcode::Refused));
    EXPECT_FALSE(dns::readHeader(*refused)->rd());
    EXPECT_EQ(handler_->cache().size(), 0u);

    auto recursive = ask(MessageBuilder().question("norec.example", dns::type::A).build());
    ASSERT_TRUE(recursive);
    EXPECT_EQ(rcode(*recursive), static_cast<uint8_t>(dns::Rcode::NoError));
    EXPECT_EQ(dns::test::parseOrDie(*recursive).records.size(), 1u);
    EXPECT_EQ(handler_->stats().servFail, 0u);
}

// Issue 12: the AD bit followed whoever asked first. The upstream sets AD only for AD=1.
TEST_F(QueryHandlerTest, AdFollowsTheCurrentQueryNotTheFirst) {
    upstream_->setResponder([](const Bytes& q, bool) -> std::optional<Bytes> {
        Bytes answer = aAnswer(q, 300);
        if (dns::readHeader(q)->ad())
            answer[3] |= 0x20;
        return answer;
    });
    const Bytes plain = MessageBuilder().question("ad.example", dns::type::A).build();
    const Bytes withAd =
        MessageBuilder().flags(0x0120).question("ad.example", dns::type::A).build();
    for (const Bytes* first : {&plain, &withAd}) {
        handler_->forgetName("ad.example");
        for (const Bytes* q : {first, first == &plain ? &withAd : &plain}) {
            auto answer = ask(*q);
            ASSERT_TRUE(answer);
            EXPECT_EQ(dns::readHeader(*answer)->ad(), q == &withAd)
                << (first == &plain ? "plain first" : "AD first");
        }
    }
}

TEST_F(QueryHandlerTest, ReconfigureChangesTheAccessList) {
    config_.allow = net::CidrSet({*net::Cidr::parse("10.0.0.0/8")});
    std::string error;
    ASSERT_TRUE(handler_->reconfigure(config_, &error)) << error;
    auto answer = ask(MessageBuilder().question("a.example", dns::type::A).build());
    ASSERT_TRUE(answer);
    EXPECT_EQ(rcode(*answer), static_cast<uint8_t>(dns::Rcode::Refused));
}

// A reload during an upstream outage (a new token, another log level) must not throw away the
// answers serve-stale is there to give (RFC 8767 §5).
TEST_F(QueryHandlerTest, ReloadWithTheSameDnsSettingsKeepsStaleAnswersServable) {
    const Bytes query = MessageBuilder().question("keep.example", dns::type::A).build();
    ASSERT_TRUE(ask(query));
    now_ += std::chrono::seconds(301);  // past the TTL: stale
    silent_ = true;
    std::string error;
    ASSERT_TRUE(handler_->reconfigure(config_, &error)) << error;
    EXPECT_EQ(handler_->cache().size(), 1u);
    auto answer = ask(query);
    ASSERT_TRUE(answer);
    EXPECT_EQ(rcode(*answer), static_cast<uint8_t>(dns::Rcode::NoError));
    EXPECT_EQ(dns::readHeader(*answer)->ancount, 1u);
    EXPECT_EQ(handler_->stats().staleAnswers, 1u);
}

TEST_F(QueryHandlerTest, ReloadThatChangesWhatNamesResolveToClearsTheCache) {
    std::string error;
    ASSERT_TRUE(ask(MessageBuilder().question("gone.example", dns::type::A).build()));
    ASSERT_EQ(handler_->cache().size(), 1u);
    config_.recordsTtl += 1;  // the local records' answers changed
    ASSERT_TRUE(handler_->reconfigure(config_, &error)) << error;
    EXPECT_EQ(handler_->cache().size(), 0u);

    ASSERT_TRUE(ask(MessageBuilder().question("gone.example", dns::type::A).build()));
    ASSERT_EQ(handler_->cache().size(), 1u);
    test::MockDnsServer other(
        base_.get(), [](const Bytes& q, bool) -> std::optional<Bytes> { return aAnswer(q, 300); });
    config_.upstreams = {other.address()};
    ASSERT_TRUE(handler_->reconfigure(config_, &error)) << error;
    EXPECT_EQ(handler_->cache().size(), 0u);

    ASSERT_TRUE(ask(MessageBuilder().question("gone.example", dns::type::A).build()));
    config_.intercept.names.push_back("new.example");
    ASSERT_TRUE(handler_->reconfigure(config_, &error)) << error;
    EXPECT_EQ(handler_->cache().size(), 0u);
}

}  // namespace
}  // namespace dynamo::resolver
