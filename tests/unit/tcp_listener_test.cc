// DNS over TCP (RFC 7766) in process: pipelining, half-close, idle timeout, query deadline,
// connection bounds (in all and per client address).

#include "resolver/tcp_listener.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cerrno>

#include "dns_test_util.h"
#include "event_loop_util.h"
#include "mock_dns_server.h"

namespace dynamo::resolver {
namespace {

using dns::test::Bytes;
using dns::test::MessageBuilder;

class TcpListenerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        base_.reset(event_base_new());
        upstream_ = std::make_unique<test::MockDnsServer>(
            base_.get(), [](const Bytes& q, bool) -> std::optional<Bytes> {
                auto parsed = dns::test::parseOrDie(q);
                return MessageBuilder()
                    .id(dns::getId(q))
                    .response()
                    .question(parsed.qname(), parsed.qtype)
                    .answer(dns::type::A, 60, {192, 0, 2, 1})
                    .build();
            });
        config_.upstreams = {upstream_->address()};
        config_.allow = net::CidrSet({*net::Cidr::parse("127.0.0.0/8")});
        std::string error;
        auto forwarder =
            Forwarder::create(base_.get(), QueryHandler::forwarderSettings(config_), &error);
        ASSERT_TRUE(forwarder) << error;
        handler_ = std::make_unique<QueryHandler>(config_, std::move(forwarder),
                                                  std::chrono::steady_clock::now,
                                                  std::vector<net::IpAddress>{});
    }

    void listen(TcpLimits limits) {
        std::string error;
        listener_ = TcpListener::create(base_.get(),
                                        net::SocketAddress(*net::IpAddress::parse("127.0.0.1"), 0),
                                        *handler_, &error, limits);
        ASSERT_TRUE(listener_) << error;
    }

    // From 127.0.0.1, or from another loopback address.
    net::UniqueFd connectClient(const char* from = nullptr) {
        const net::SocketAddress address = listener_->boundAddress();
        net::UniqueFd fd(::socket(AF_INET, SOCK_STREAM, 0));
        if (from != nullptr) {
            const net::SocketAddress source(*net::IpAddress::parse(from), 0);
            EXPECT_EQ(::bind(fd.get(), source.sockaddr_ptr(), source.length()), 0);
        }
        EXPECT_EQ(::connect(fd.get(), address.sockaddr_ptr(), address.length()), 0);
        ::fcntl(fd.get(), F_SETFL, O_NONBLOCK);
        return fd;
    }

    static void sendFramed(int fd, const std::vector<Bytes>& queries) {
        Bytes wire;
        for (const auto& query : queries) {
            wire.push_back(static_cast<uint8_t>(query.size() >> 8));
            wire.push_back(static_cast<uint8_t>(query.size()));
            wire.insert(wire.end(), query.begin(), query.end());
        }
        ASSERT_EQ(::send(fd, wire.data(), wire.size(), 0), static_cast<ssize_t>(wire.size()));
    }

    // Reads framed answers until `count` arrived or the server closed; pumps the loop meanwhile.
    std::vector<Bytes> readAnswers(
        int fd, size_t count, bool* closed = nullptr,
        std::chrono::milliseconds deadline = std::chrono::milliseconds(5000)) {
        Bytes buffer;
        std::vector<Bytes> answers;
        bool eof = false;
        test::runUntil(
            base_.get(),
            [&] {
                uint8_t chunk[4096];
                for (;;) {
                    const ssize_t n = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
                    if (n == 0)
                        eof = true;
                    if (n <= 0)
                        break;
                    buffer.insert(buffer.end(), chunk, chunk + n);
                }
                while (buffer.size() >= 2) {
                    const size_t length = static_cast<size_t>(buffer[0] << 8 | buffer[1]);
                    if (buffer.size() < 2 + length)
                        break;
                    answers.emplace_back(buffer.begin() + 2,
                                         buffer.begin() + 2 + static_cast<long>(length));
                    buffer.erase(buffer.begin(), buffer.begin() + 2 + static_cast<long>(length));
                }
                return answers.size() >= count || eof;
            },
            deadline);
        if (closed != nullptr)
            *closed = eof;
        return answers;
    }

    net::EventBasePtr base_;
    std::unique_ptr<test::MockDnsServer> upstream_;
    config::DnsConfig config_;
    std::unique_ptr<QueryHandler> handler_;
    std::unique_ptr<TcpListener> listener_;
};

TEST_F(TcpListenerTest, PipelinedQueriesOnOneConnectionAreAllAnswered) {
    listen({});
    auto client = connectClient();
    sendFramed(client.get(),
               {MessageBuilder().id(1).question("members.dyndns.org", dns::type::A).build(),
                MessageBuilder().id(2).question("forwarded.example", dns::type::A).build(),
                MessageBuilder().id(3).question("members.dyndns.org", dns::type::AAAA).build()});
    auto answers = readAnswers(client.get(), 3);
    ASSERT_EQ(answers.size(), 3u);
    std::vector<uint16_t> ids;
    for (const auto& answer : answers)
        ids.push_back(dns::getId(answer));
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<uint16_t>{1, 2, 3}));
    EXPECT_EQ(upstream_->queries(), 1u);
}

TEST_F(TcpListenerTest, AQueryFollowedByHalfCloseIsStillAnswered) {
    listen({});
    auto client = connectClient();
    sendFramed(client.get(),
               {MessageBuilder().id(7).question("half.example", dns::type::A).build()});
    ::shutdown(client.get(), SHUT_WR);
    bool closed = false;
    auto answers = readAnswers(client.get(), 2, &closed);  // the answer, then the server's close
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(dns::getId(answers[0]), 7);
    EXPECT_TRUE(closed);
}

TEST_F(TcpListenerTest, AnIdleConnectionIsClosedByTheServer) {
    listen({128, 32, std::chrono::milliseconds(200)});
    auto client = connectClient();
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return listener_->connections() == 1; }));
    bool closed = false;
    readAnswers(client.get(), 1, &closed);
    EXPECT_TRUE(closed);
    EXPECT_EQ(listener_->connections(), 0u);
}

// The server has closed fd (EOF or reset), pumping the loop meanwhile.
bool closedByServer(event_base* base, int fd,
                    std::chrono::milliseconds deadline = std::chrono::milliseconds(3000)) {
    return test::runUntil(
        base,
        [&] {
            char sink[512];
            const ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
            return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
        },
        deadline);
}

// At the cap a new connection takes the place of the one that has waited longest for its next
// query: clients that hold connections open (trickling, or idle) cannot keep a new query out.
TEST_F(TcpListenerTest, AtTheCapANewConnectionReplacesTheOneWaitingLongest) {
    listen({2, 32, std::chrono::milliseconds(10000)});
    auto first = connectClient();
    const uint8_t half = 0;
    ASSERT_EQ(::send(first.get(), &half, 1, 0), 1);  // part of a length prefix
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return listener_->connections() == 1; }));
    auto second = connectClient();
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return listener_->connections() == 2; }));
    auto third = connectClient();
    sendFramed(third.get(),
               {MessageBuilder().id(9).question("members.dyndns.org", dns::type::A).build()});
    EXPECT_EQ(readAnswers(third.get(), 1).size(), 1u);
    EXPECT_TRUE(closedByServer(base_.get(), first.get()));
    EXPECT_EQ(listener_->connections(), 2u);
    EXPECT_EQ(listener_->closedOverCap(), 1u);
    sendFramed(second.get(),
               {MessageBuilder().id(10).question("members.dyndns.org", dns::type::A).build()});
    EXPECT_EQ(readAnswers(second.get(), 1).size(), 1u);
}

// A connection whose answer is on the way is never the one to go: at the cap with only such
// connections, the new one is closed at once.
TEST_F(TcpListenerTest, AtTheCapWithEveryAnswerOnTheWayTheNewConnectionIsClosed) {
    upstream_->setResponder([](const Bytes&, bool) -> std::optional<Bytes> { return {}; });
    listen({2, 32, std::chrono::milliseconds(10000)});
    auto first = connectClient();
    auto second = connectClient();
    sendFramed(first.get(), {MessageBuilder().id(1).question("a.example", dns::type::A).build()});
    sendFramed(second.get(), {MessageBuilder().id(2).question("b.example", dns::type::A).build()});
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return upstream_->queries() == 2; }));
    auto third = connectClient();
    EXPECT_TRUE(closedByServer(base_.get(), third.get()));
    EXPECT_EQ(listener_->connections(), 2u);
    EXPECT_EQ(listener_->closedOverCap(), 1u);
}

// One address cannot hold more than its share: its newest connection takes the place of its
// own longest waiting one, and other addresses are not affected.
TEST_F(TcpListenerTest, OneClientAddressCannotHoldMoreThanItsBound) {
    TcpLimits limits;
    limits.maxConnectionsPerClient = 3;
    listen(limits);
    std::vector<net::UniqueFd> flood;
    for (int i = 0; i < 8; ++i) {
        flood.push_back(connectClient("127.0.0.2"));
        ASSERT_TRUE(test::runUntil(base_.get(), [&] {
            return listener_->connections() == std::min<size_t>(flood.size(), 3);
        }));
    }
    auto other = connectClient("127.0.0.3");
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return listener_->connections() == 4; }));
    for (size_t i = 0; i < 5; ++i)
        EXPECT_TRUE(closedByServer(base_.get(), flood[i].get())) << "connection " << i;
    EXPECT_EQ(listener_->closedOverCap(), 5u);
    sendFramed(flood[7].get(),
               {MessageBuilder().id(7).question("members.dyndns.org", dns::type::A).build()});
    EXPECT_EQ(readAnswers(flood[7].get(), 1).size(), 1u);
    sendFramed(other.get(),
               {MessageBuilder().id(8).question("members.dyndns.org", dns::type::A).build()});
    EXPECT_EQ(readAnswers(other.get(), 1).size(), 1u);
}

// A byte every 100 ms restarts the idle timeout for ever; a query must still be in whole by
// its deadline.
TEST_F(TcpListenerTest, ATricklingQueryIsClosedAtItsDeadline) {
    TcpLimits limits;
    limits.idleTimeout = std::chrono::milliseconds(500);
    limits.queryTimeout = std::chrono::milliseconds(300);
    listen(limits);
    auto client = connectClient();
    const uint8_t prefix[2] = {0x00, 0x40};  // a 64-byte query, sent a byte at a time
    ASSERT_EQ(::send(client.get(), prefix, 2, 0), 2);
    const auto start = std::chrono::steady_clock::now();
    auto lastByte = start;
    bool closed = false;
    test::runUntil(
        base_.get(),
        [&] {
            const auto now = std::chrono::steady_clock::now();
            if (now - lastByte >= std::chrono::milliseconds(100)) {
                const uint8_t byte = 0;
                ::send(client.get(), &byte, 1, MSG_NOSIGNAL);
                lastByte = now;
            }
            char sink;
            const ssize_t n = ::recv(client.get(), &sink, 1, MSG_DONTWAIT);
            closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
            return closed;
        },
        std::chrono::milliseconds(3000));
    EXPECT_TRUE(closed) << "a trickling client kept its connection";
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(290));
    EXPECT_EQ(listener_->connections(), 0u);
}

// The deadline is per query: a client sending whole queries slowly keeps its connection.
TEST_F(TcpListenerTest, WholeQueriesSpacedOutDoNotMeetTheQueryDeadline) {
    TcpLimits limits;
    limits.queryTimeout = std::chrono::milliseconds(200);
    listen(limits);
    auto client = connectClient();
    for (uint16_t id = 1; id <= 3; ++id) {
        sendFramed(client.get(),
                   {MessageBuilder().id(id).question("members.dyndns.org", dns::type::A).build()});
        bool closed = false;
        EXPECT_EQ(readAnswers(client.get(), 1, &closed).size(), 1u);
        ASSERT_FALSE(closed);
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(150);
        test::runUntil(base_.get(), [&] { return std::chrono::steady_clock::now() >= end; });
    }
    EXPECT_EQ(listener_->connections(), 1u);
}

// At the end of its lifetime a connection takes no more queries, but answers what it took
// (here the SERVFAIL of a silent upstream, at dns.upstream_timeout), then closes.
TEST_F(TcpListenerTest, AtTheEndOfItsLifetimeAConnectionAnswersWhatItTookThenCloses) {
    upstream_->setResponder([](const Bytes&, bool) -> std::optional<Bytes> { return {}; });
    TcpLimits limits;
    limits.lifetime = std::chrono::milliseconds(200);
    listen(limits);
    auto client = connectClient();
    sendFramed(client.get(),
               {MessageBuilder().id(1).question("slow.example", dns::type::A).build()});
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return upstream_->queries() >= 1; }));
    bool closed = false;
    auto answers = readAnswers(client.get(), 2, &closed, std::chrono::milliseconds(8000));
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(dns::getId(answers[0]), 1);
    EXPECT_EQ(dns::readHeader(answers[0])->rcode(), static_cast<uint8_t>(dns::Rcode::ServFail));
    EXPECT_TRUE(closed);
}

TEST_F(TcpListenerTest, ClientsOutsideTheAccessListGetOneRefusedThenTheConnectionCloses) {
    config_.allow = net::CidrSet({*net::Cidr::parse("10.0.0.0/8")});
    std::string error;
    ASSERT_TRUE(handler_->reconfigure(config_, &error)) << error;
    listen({});
    auto client = connectClient();
    sendFramed(client.get(), {MessageBuilder().id(1).question("a.example", dns::type::A).build(),
                              MessageBuilder().id(2).question("b.example", dns::type::A).build()});
    bool closed = false;
    auto answers = readAnswers(client.get(), 2, &closed);
    ASSERT_EQ(answers.size(), 1u);  // the second query is never taken
    EXPECT_EQ(dns::readHeader(answers[0])->rcode(), static_cast<uint8_t>(dns::Rcode::Refused));
    EXPECT_TRUE(closed);  // at once, not after the idle timeout
    EXPECT_EQ(listener_->connections(), 0u);
    EXPECT_EQ(listener_->refusedConnections(), 1u);
    EXPECT_EQ(upstream_->queries(), 0u);
}

TEST_F(TcpListenerTest, AClientOutsideTheAccessListCannotTrickleItsConnectionOpen) {
    config_.allow = net::CidrSet({*net::Cidr::parse("10.0.0.0/8")});
    std::string error;
    ASSERT_TRUE(handler_->reconfigure(config_, &error)) << error;
    listen({});
    auto client = connectClient();
    // A length prefix announcing a big query, then one byte now and then: each byte restarts
    // the idle timeout, only the lifetime ends it.
    const uint8_t prefix[2] = {0x40, 0x00};
    ASSERT_EQ(::send(client.get(), prefix, 2, 0), 2);
    const auto start = std::chrono::steady_clock::now();
    auto lastByte = start;
    bool closed = false;
    test::runUntil(
        base_.get(),
        [&] {
            const auto now = std::chrono::steady_clock::now();
            if (now - lastByte >= std::chrono::milliseconds(500)) {  // well inside the idle 2 s
                const uint8_t byte = 0;
                ::send(client.get(), &byte, 1, MSG_NOSIGNAL);
                lastByte = now;
            }
            char sink;
            closed = ::recv(client.get(), &sink, 1, MSG_DONTWAIT) == 0;
            return closed;
        },
        std::chrono::milliseconds(4000));
    EXPECT_TRUE(closed);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1900));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(3000));
    EXPECT_EQ(listener_->connections(), 0u);
}

// Regression: a query stopped counting as in flight once its answer was queued, so a client
// that pipelined queries for a large cached answer and never read grew the output buffer
// without limit (any progress re-armed the write timeout).
TEST_F(TcpListenerTest, AClientThatNeverReadsCannotGrowTheOutputBufferWithoutBound) {
    upstream_->setResponder([](const Bytes& q, bool) -> std::optional<Bytes> {
        auto parsed = dns::test::parseOrDie(q);
        MessageBuilder builder;
        builder.id(dns::getId(q)).response().question(parsed.qname(), parsed.qtype);
        for (int i = 0; i < 16; ++i) {
            Bytes txt(1, 200);
            txt.insert(txt.end(), 200, static_cast<uint8_t>('a' + i));
            builder.answer(dns::type::TXT, 300, txt);
        }
        return builder.build();  // ~3.3 KB: over UDP from the upstream, then cached
    });
    listen({});
    // A small receive window, so the kernel cannot hide what the server queues.
    net::UniqueFd client(::socket(AF_INET, SOCK_STREAM, 0));
    const int window = 4096;
    ::setsockopt(client.get(), SOL_SOCKET, SO_RCVBUF, &window, sizeof window);
    const net::SocketAddress address = listener_->boundAddress();
    ASSERT_EQ(::connect(client.get(), address.sockaddr_ptr(), address.length()), 0);

    constexpr size_t kQueries = 1000;
    std::vector<Bytes> queries;
    for (size_t i = 0; i < kQueries; ++i) {
        queries.push_back(MessageBuilder()
                              .id(static_cast<uint16_t>(i))
                              .question("big.example", dns::type::TXT)
                              .build());
    }
    sendFramed(client.get(), queries);  // ~33 KB: fits in the server's receive buffer
    ::fcntl(client.get(), F_SETFL, O_NONBLOCK);

    size_t peak = 0;
    test::runUntil(
        base_.get(),
        [&] {
            peak = std::max(peak, listener_->bufferedOutput());
            return false;
        },
        std::chrono::milliseconds(1000));
    ASSERT_GT(handler_->stats().cacheHits, 0u);
    // The high mark, plus what the in-flight bound lets land at once (32 answers).
    const size_t answerSize = 2 + 3500;  // 16 TXT records of 213 bytes, header, question
    EXPECT_LE(peak, kOutputHighWater + TcpLimits{}.maxInFlightPerConnection * answerSize);
    EXPECT_LT(handler_->stats().tcpQueries, kQueries);  // reading paused

    // Reading then drains everything: every query is answered.
    const auto answers =
        readAnswers(client.get(), kQueries, nullptr, std::chrono::milliseconds(30000));
    EXPECT_EQ(answers.size(), kQueries);
    EXPECT_EQ(handler_->stats().tcpQueries, kQueries);
    EXPECT_EQ(listener_->bufferedOutput(), 0u);
}

}  // namespace
}  // namespace dynamo::resolver
