// The c-ares forwarder against a mock upstream on loopback, in the test's own event loop.

#include "resolver/forwarder.h"

#include <gtest/gtest.h>

#include "dns_test_util.h"
#include "event_loop_util.h"
#include "mock_dns_server.h"

namespace dynamo::resolver {
namespace {

using dns::test::Bytes;
using dns::test::MessageBuilder;

Bytes answerTo(const Bytes& query, size_t txtStrings = 1) {
    auto parsed = dns::test::parseOrDie(query);
    MessageBuilder builder;
    builder.id(dns::getId(query)).response().question(parsed.qname, parsed.qtype);
    for (size_t i = 0; i < txtStrings; ++i) {
        Bytes txt(1, 200);
        txt.insert(txt.end(), 200, static_cast<uint8_t>('a' + i % 26));
        builder.answer(dns::type::TXT, 300, txt);
    }
    return builder.build();
}

class ForwarderTest : public ::testing::Test {
  protected:
    void SetUp() override { base_.reset(event_base_new()); }

    std::unique_ptr<Forwarder> makeForwarder(
        std::vector<net::SocketAddress> upstreams,
        std::chrono::milliseconds timeout = std::chrono::milliseconds(600)) {
        Forwarder::Settings settings;
        settings.upstreams = std::move(upstreams);
        settings.timeout = timeout;
        settings.maxInFlight = 8;
        std::string error;
        auto forwarder = Forwarder::create(base_.get(), settings, &error);
        EXPECT_TRUE(forwarder) << error;
        return forwarder;
    }

    net::EventBasePtr base_;
};

TEST_F(ForwarderTest, OnlyTheIdChangesOnTheWayUpAndTheClientIdComesBack) {
    test::MockDnsServer upstream(base_.get(), [](const Bytes& q, bool) { return answerTo(q); });
    auto forwarder = makeForwarder({upstream.address()});
    const Bytes query =
        MessageBuilder().id(0xbeef).question("Example.COM", dns::type::TXT).opt(4096, true).build();

    std::optional<Bytes> answer;
    ASSERT_TRUE(forwarder->forward(
        query, [&](std::span<const uint8_t> a) { answer = Bytes(a.begin(), a.end()); }));
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return answer.has_value(); }));

    ASSERT_EQ(upstream.udpQueries().size(), 1u);
    Bytes sent = upstream.udpQueries()[0];
    EXPECT_EQ(sent.size(), query.size());
    EXPECT_TRUE(std::equal(sent.begin() + 2, sent.end(), query.begin() + 2));
    EXPECT_EQ(dns::getId(*answer), 0xbeef);
}

TEST_F(ForwarderTest, IdenticalQueriesInFlightGoUpstreamOnce) {
    std::vector<Bytes> held;
    test::MockDnsServer upstream(base_.get(), [&](const Bytes& q, bool) -> std::optional<Bytes> {
        held.push_back(q);
        return std::nullopt;  // answered below, once both clients are waiting
    });
    auto forwarder = makeForwarder({upstream.address()}, std::chrono::milliseconds(3000));
    const Bytes first = MessageBuilder().id(1).question("a.example", dns::type::A).build();
    const Bytes second = MessageBuilder().id(2).question("a.example", dns::type::A).build();
    std::vector<uint16_t> ids;
    auto collect = [&](std::span<const uint8_t> a) { ids.push_back(dns::getId(a)); };
    forwarder->forward(first, collect);
    forwarder->forward(second, collect);
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return held.size() == 1; }));
    EXPECT_EQ(forwarder->stats().coalesced, 1u);

    upstream.setResponder([](const Bytes& q, bool) { return answerTo(q); });
    // Answer the held query by hand through a fresh UDP socket is not possible (c-ares checks
    // the source), so let the retry carry it: c-ares re-sends after its per-try timeout.
    ASSERT_TRUE(test::runUntil(
        base_.get(), [&] { return ids.size() == 2; }, std::chrono::milliseconds(4000)));
    EXPECT_EQ(ids, (std::vector<uint16_t>{1, 2}));
}

TEST_F(ForwarderTest, ASilentUpstreamFailsWithinTheTimeout) {
    test::MockDnsServer upstream(base_.get(), [](const Bytes&, bool) { return std::nullopt; });
    auto forwarder = makeForwarder({upstream.address()}, std::chrono::milliseconds(600));
    const Bytes query = MessageBuilder().question("slow.example", dns::type::A).build();
    std::optional<size_t> answerSize;
    const auto start = std::chrono::steady_clock::now();
    forwarder->forward(query, [&](std::span<const uint8_t> a) { answerSize = a.size(); });
    ASSERT_TRUE(test::runUntil(
        base_.get(), [&] { return answerSize.has_value(); }, std::chrono::milliseconds(3000)));
    EXPECT_EQ(*answerSize, 0u);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
    EXPECT_EQ(forwarder->stats().failed, 1u);
}

TEST_F(ForwarderTest, ATruncatedUdpAnswerIsFetchedWholeOverTcp) {
    test::MockDnsServer upstream(base_.get(), [](const Bytes& q, bool tcp) {
        Bytes whole = answerTo(q, 10);  // ~2 KB
        if (tcp)
            return whole;
        auto parsed = dns::test::parseOrDie(whole);
        return dns::truncated(whole, parsed);
    });
    auto forwarder = makeForwarder({upstream.address()});
    const Bytes query = MessageBuilder().question("big.example", dns::type::TXT).build();
    std::optional<Bytes> answer;
    forwarder->forward(query,
                       [&](std::span<const uint8_t> a) { answer = Bytes(a.begin(), a.end()); });
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return answer.has_value(); }));
    EXPECT_GT(answer->size(), 2000u);
    EXPECT_FALSE(dns::readHeader(*answer)->tc());
    EXPECT_EQ(upstream.tcpQueries().size(), 1u);
}

TEST_F(ForwarderTest, TheInFlightBoundRefusesMore) {
    test::MockDnsServer upstream(base_.get(), [](const Bytes&, bool) { return std::nullopt; });
    auto forwarder = makeForwarder({upstream.address()}, std::chrono::milliseconds(3000));
    int refused = 0;
    for (int i = 0; i < 10; ++i) {
        const Bytes query =
            MessageBuilder().question("n" + std::to_string(i) + ".example", dns::type::A).build();
        if (!forwarder->forward(query, [](std::span<const uint8_t>) {}))
            ++refused;
    }
    EXPECT_EQ(refused, 2);  // maxInFlight is 8
    EXPECT_EQ(forwarder->inFlight(), 8u);
}

TEST_F(ForwarderTest, DestructionWithQueriesInFlightCallsNoOne) {
    test::MockDnsServer upstream(base_.get(), [](const Bytes&, bool) { return std::nullopt; });
    auto forwarder = makeForwarder({upstream.address()}, std::chrono::milliseconds(3000));
    bool called = false;
    forwarder->forward(MessageBuilder().question("x.example", dns::type::A).build(),
                       [&](std::span<const uint8_t>) { called = true; });
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return upstream.queries() == 1; }));
    forwarder.reset();  // ARES_EDESTRUCTION path
    EXPECT_FALSE(called);
}

TEST_F(ForwarderTest, ReconfigureMovesToTheNewUpstream) {
    test::MockDnsServer first(base_.get(), [](const Bytes& q, bool) { return answerTo(q); });
    test::MockDnsServer second(base_.get(), [](const Bytes& q, bool) { return answerTo(q); });
    auto forwarder = makeForwarder({first.address()});
    Forwarder::Settings settings;
    settings.upstreams = {second.address()};
    std::string error;
    ASSERT_TRUE(forwarder->reconfigure(settings, &error)) << error;
    bool answered = false;
    forwarder->forward(MessageBuilder().question("y.example", dns::type::A).build(),
                       [&](std::span<const uint8_t> a) { answered = !a.empty(); });
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return answered; }));
    EXPECT_EQ(first.queries(), 0u);
    EXPECT_EQ(second.queries(), 1u);
}

}  // namespace
}  // namespace dynamo::resolver
