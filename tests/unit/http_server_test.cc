// gateway::HttpServer and HttpExchange in-process over loopback: each way a request can end
// (answered, client gone before the answer, shutdown with the request pending) under ASan, the
// accept back-off when descriptors run out, the client address taken from the sockaddr, and
// the HTTPS listener's TLS context made by its first connection.

#include "gateway/http/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "event_loop_util.h"
#include "gateway/http/tls_server.h"
#include "net/handles.h"
#include "tls_test_util.h"

namespace dynamo::gateway {
namespace {

using namespace std::chrono_literals;

uint16_t freeTcpPort(int family) {
    net::UniqueFd fd(::socket(family, SOCK_STREAM, 0));
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (family == AF_INET6) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = in6addr_any;
        length = sizeof *sin6;
    } else {
        auto* sin = reinterpret_cast<sockaddr_in*>(&storage);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        length = sizeof *sin;
    }
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), length), 0);
    EXPECT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&storage), &length), 0);
    return ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                                    : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
}

// A non-blocking client: the loop runs in this thread too.
class Client {
  public:
    Client(const sockaddr* address, socklen_t length)
        : fd_(::socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0)) {
        const int result = ::connect(fd_.get(), address, length);
        EXPECT_TRUE(result == 0 || errno == EINPROGRESS) << std::strerror(errno);
    }
    explicit Client(uint16_t port) : Client(loopback(port), sizeof(sockaddr_in)) {}
    // From another loopback address (another host, as far as the server can tell).
    Client(uint16_t port, const char* from)
        : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) {
        sockaddr_in source{};
        source.sin_family = AF_INET;
        ::inet_pton(AF_INET, from, &source.sin_addr);
        EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&source), sizeof source), 0);
        const int result = ::connect(fd_.get(), loopback(port), sizeof(sockaddr_in));
        EXPECT_TRUE(result == 0 || errno == EINPROGRESS) << std::strerror(errno);
    }

    void send(const std::string& text) {
        pending_ += text;
        flush();
    }
    void flush() {
        while (!pending_.empty()) {
            // MSG_NOSIGNAL: a server that closed first must fail the test, not kill it.
            const ssize_t n = ::send(fd_.get(), pending_.data(), pending_.size(), MSG_NOSIGNAL);
            if (n <= 0)
                return;
            pending_.erase(0, static_cast<size_t>(n));
        }
    }
    // What arrived so far (reads what is there, never waits).
    const std::string& received() {
        flush();
        char buffer[4096];
        for (;;) {
            const ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
            if (n == 0 || (n < 0 && errno == ECONNRESET))
                closed_ = true;
            if (n <= 0)
                break;
            received_.append(buffer, static_cast<size_t>(n));
        }
        return received_;
    }
    void close() { fd_.reset(); }
    // The server closed the connection (EOF or reset seen by received()).
    bool closedByServer() {
        received();
        return closed_;
    }

  private:
    static const sockaddr* loopback(uint16_t port) {
        static sockaddr_in address;
        address = {};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return reinterpret_cast<const sockaddr*>(&address);
    }
    net::UniqueFd fd_;
    std::string pending_;
    std::string received_;
    bool closed_ = false;
};

// The process's open descriptors: a connection the server still holds is one of them.
size_t openDescriptors() {
    size_t count = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
        ++count;
    return count;
}

const std::string kGet = "GET /nic/update HTTP/1.1\r\nHost: x\r\n\r\n";

class HttpServerTest : public ::testing::Test {
  protected:
    // As the daemon: a connection the guard shut down may still be written to by evhttp.
    HttpServerTest() { std::signal(SIGPIPE, SIG_IGN); }

    void start(const std::string& listen = "127.0.0.1", const std::string& allow = "127.0.0.0/8",
               int family = AF_INET) {
        port_ = freeTcpPort(family);
        std::string error;
        server_ = HttpServer::create(
            base_.get(), {*net::SocketAddress::parse(listen, port_)}, {}, nullptr,
            [this](std::shared_ptr<HttpExchange> exchange) {
                clients_.push_back(exchange->request().client);
                if (answerAtOnce_)
                    exchange->reply({200, "text/plain", "good 1.2.3.4", {}});
                else
                    held_.push_back(std::move(exchange));
            },
            &error, limits_);
        ASSERT_TRUE(server_) << error;
        server_->setAllow(net::CidrSet({*net::Cidr::parse(allow)}));
    }

    net::EventBasePtr base_{event_base_new()};
    uint16_t port_ = 0;
    bool answerAtOnce_ = true;
    HttpConnectionGuard::Limits limits_;
    std::vector<net::IpAddress> clients_;
    std::vector<std::shared_ptr<HttpExchange>> held_;
    std::unique_ptr<HttpServer> server_;  // last: goes first, as in the daemon
};

TEST_F(HttpServerTest, AnAnsweredRequestReachesTheClient) {
    start();
    Client client(port_);
    client.send(kGet);
    ASSERT_TRUE(test::runUntil(
        base_.get(), [&] { return client.received().find("good 1.2.3.4") != std::string::npos; }));
    EXPECT_EQ(client.received().rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << client.received();
    ASSERT_EQ(clients_.size(), 1u);
    EXPECT_EQ(clients_[0], *net::IpAddress::parse("127.0.0.1"));
}

// A client gone in the middle of its request: libevent's alone (the router never saw it), and
// libevent closes its side: the process is back to the descriptors it had before the client.
TEST_F(HttpServerTest, AClientGoneInTheMiddleOfItsRequestLeavesNothingBehind) {
    start();
    const size_t idle = openDescriptors();
    auto client = std::make_unique<Client>(port_);
    client->send("GET /nic/update HTTP/1.1\r\nHost: x\r\n");
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return openDescriptors() == idle + 2; }))
        << "the server never accepted the connection";
    client.reset();
    EXPECT_TRUE(test::runUntil(base_.get(), [&] { return openDescriptors() == idle; }))
        << "the server kept the connection of a client that is gone";
    EXPECT_TRUE(clients_.empty());
}

// A slow token API: the device gives up first. libevent 2.1.12 does not read while a request
// waits for its answer (EVCON_WRITING), so it notices only when the answer is written; the
// answer then goes into the closed connection, which libevent frees. ASan: no leak, no use
// after free, whichever of the two paths of the header comment libevent takes.
TEST_F(HttpServerTest, AClientGoneBeforeTheAnswerEndsCleanly) {
    answerAtOnce_ = false;
    start();
    const size_t idle = openDescriptors();
    {
        Client client(port_);
        client.send(kGet);
        ASSERT_TRUE(test::runUntil(base_.get(), [&] { return held_.size() == 1; }));
        EXPECT_FALSE(held_[0]->replied());
    }  // the device closes
    held_[0]->reply({200, "text/plain", "good 1.2.3.4", {}});
    EXPECT_TRUE(held_[0]->replied());
    held_.clear();
    EXPECT_TRUE(test::runUntil(base_.get(), [&] { return openDescriptors() == idle; }))
        << "the connection was not freed after its answer";
    // The server still serves others.
    answerAtOnce_ = true;
    Client next(port_);
    next.send(kGet);
    ASSERT_TRUE(test::runUntil(
        base_.get(), [&] { return next.received().find("good 1.2.3.4") != std::string::npos; }));
}

// Slowloris: a byte every 50 ms restarts evhttp's idle timeout for ever; the connection's
// lifetime does not restart.
TEST_F(HttpServerTest, ATricklingClientIsClosedAtTheEndOfItsLifetime) {
    limits_ = {16, 300ms, 50ms};
    start();
    Client client(port_);
    client.send("GET /nic/update HTTP/1.1\r\nX-Slow: ");
    const auto started = std::chrono::steady_clock::now();
    auto lastByte = started;
    ASSERT_TRUE(test::runUntil(base_.get(), [&] {
        if (std::chrono::steady_clock::now() - lastByte >= 50ms) {
            client.send("a");
            lastByte = std::chrono::steady_clock::now();
        }
        return client.closedByServer();
    })) << "a trickling client kept its connection";
    EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
    EXPECT_EQ(server_->connections().expired(), 1u);
    EXPECT_TRUE(clients_.empty());
}

// At the cap a new connection takes the place of the one reading its request longest: hosts
// holding connections open (slowloris) cannot keep a device's update out.
TEST_F(HttpServerTest, AtTheCapANewConnectionReplacesTheOneReadingLongest) {
    limits_ = {2, 60s, 50ms};
    start();
    Client first(port_);
    first.send("GET /nic/update HTTP/1.1\r\n");
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return server_->connections().tracked() == 1; }));
    // The guard sees the first reading before the second comes.
    const auto later = std::chrono::steady_clock::now() + 20ms;
    test::runUntil(base_.get(), [&] { return std::chrono::steady_clock::now() >= later; });
    Client second(port_);
    second.send("GET /nic/update HTTP/1.1\r\n");
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return server_->connections().tracked() == 2; }));
    Client third(port_);
    third.send(kGet);
    ASSERT_TRUE(test::runUntil(base_.get(), [&] {
        return third.received().find("good 1.2.3.4") != std::string::npos;
    })) << "a new connection at the cap was not served";
    EXPECT_TRUE(test::runUntil(base_.get(), [&] { return first.closedByServer(); }));
    EXPECT_EQ(server_->connections().refused(), 1u);
    EXPECT_FALSE(second.closedByServer());
    second.send("Host: x\r\n\r\n");
    ASSERT_TRUE(test::runUntil(
        base_.get(), [&] { return second.received().find("good 1.2.3.4") != std::string::npos; }));
}

// A request waiting for the token API is never the one to go: the connection still reading
// goes, however new.
TEST_F(HttpServerTest, AtTheCapARequestWaitingForItsAnswerStays) {
    answerAtOnce_ = false;
    limits_ = {2, 60s, 50ms};
    start();
    Client waiting(port_);
    waiting.send(kGet);
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return held_.size() == 1; }));
    Client reading(port_);
    reading.send("GET /nic/update HTTP/1.1\r\n");
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return server_->connections().tracked() == 2; }));
    Client third(port_);
    third.send(kGet);
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return held_.size() == 2; }));
    EXPECT_TRUE(test::runUntil(base_.get(), [&] { return reading.closedByServer(); }));
    EXPECT_FALSE(waiting.closedByServer());
    held_[0]->reply({200, "text/plain", "good 1.2.3.4", {}});
    ASSERT_TRUE(test::runUntil(
        base_.get(), [&] { return waiting.received().find("good 1.2.3.4") != std::string::npos; }));
}

// One address cannot hold more than its share; its newest connections take the place of its
// own oldest, and another address is not affected.
TEST_F(HttpServerTest, OneClientAddressCannotHoldMoreThanItsBound) {
    limits_ = {16, 60s, 50ms, 2};
    start();
    std::vector<std::unique_ptr<Client>> flood;
    for (int i = 0; i < 5; ++i) {
        flood.push_back(std::make_unique<Client>(port_, "127.0.0.2"));
        flood.back()->send("GET /nic/update HTTP/1.1\r\n");
        // One at a time, so that their order is known.
        const auto later = std::chrono::steady_clock::now() + 10ms;
        test::runUntil(base_.get(), [&] { return std::chrono::steady_clock::now() >= later; });
    }
    Client other(port_, "127.0.0.3");
    other.send("GET /nic/update HTTP/1.1\r\n");
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_TRUE(test::runUntil(base_.get(), [&] { return flood[i]->closedByServer(); }))
            << "connection " << i << " from one address over a bound of 2 stayed open";
    }
    EXPECT_EQ(server_->connections().refused(), 3u);
    for (size_t i = 3; i < 5; ++i) {
        flood[i]->send("Host: x\r\n\r\n");
        EXPECT_TRUE(test::runUntil(base_.get(), [&] {
            return flood[i]->received().find("good 1.2.3.4") != std::string::npos;
        }));
    }
    other.send("Host: x\r\n\r\n");
    EXPECT_TRUE(test::runUntil(
        base_.get(), [&] { return other.received().find("good 1.2.3.4") != std::string::npos; }));
}

// Slowloris within the lifetime: a byte every 50 ms restarts evhttp's idle timeout; the
// request must still be in whole by its deadline.
TEST_F(HttpServerTest, ATricklingRequestIsClosedAtItsDeadline) {
    limits_ = {16, 60s, 50ms, 32, 300ms};
    start();
    Client client(port_);
    client.send("GET /nic/update HTTP/1.1\r\nX-Slow: ");
    const auto started = std::chrono::steady_clock::now();
    auto lastByte = started;
    ASSERT_TRUE(test::runUntil(base_.get(), [&] {
        if (std::chrono::steady_clock::now() - lastByte >= 50ms) {
            client.send("a");
            lastByte = std::chrono::steady_clock::now();
        }
        return client.closedByServer();
    })) << "a trickling client kept its connection";
    EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
    EXPECT_EQ(server_->connections().expired(), 1u);
    EXPECT_TRUE(clients_.empty());
}

// The deadline is per request: on a kept-alive connection each request has its own.
TEST_F(HttpServerTest, EachRequestOnAConnectionHasItsOwnDeadline) {
    limits_ = {16, 60s, 50ms, 32, 400ms};
    start();
    Client client(port_);
    for (int i = 1; i <= 3; ++i) {
        client.send(kGet);
        ASSERT_TRUE(test::runUntil(
            base_.get(),
            [&] {
                size_t count = 0;
                for (size_t at = 0;
                     (at = client.received().find("good 1.2.3.4", at)) != std::string::npos; ++at)
                    ++count;
                return count == static_cast<size_t>(i);
            }))
            << "request " << i;
        const auto later = std::chrono::steady_clock::now() + 250ms;
        test::runUntil(base_.get(), [&] { return std::chrono::steady_clock::now() >= later; });
        ASSERT_FALSE(client.closedByServer()) << "after request " << i;
    }
    EXPECT_EQ(server_->connections().expired(), 0u);
}

// RFC 9112 §6.3: different Content-Length values are an unrecoverable framing error: 400, and
// the connection closes. evhttp alone takes the first one; when it is the larger it would
// wait for a body that never comes.
TEST_F(HttpServerTest, TwoDifferentContentLengthsGet400AndTheConnectionCloses) {
    start();
    for (const char* lengths : {"Content-Length: 50\r\ncontent-length: 5\r\n",
                                "Content-Length: 0\r\nContent-Length: 5\r\n"}) {
        Client client(port_);
        client.send(std::string("POST /nic/update HTTP/1.1\r\nHost: x\r\n") + lengths +
                    "\r\nhello");
        EXPECT_TRUE(test::runUntil(base_.get(), [&] { return client.closedByServer(); }))
            << lengths;
        EXPECT_EQ(client.received().rfind("HTTP/1.1 400", 0), 0u) << client.received();
    }
    EXPECT_TRUE(clients_.empty());
    // The same value twice is one length (RFC 9110 §8.6 lets a recipient take it).
    Client same(port_);
    same.send(
        "POST /nic/update HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length:  5\r\n"
        "\r\nhello");
    EXPECT_TRUE(test::runUntil(
        base_.get(), [&] { return same.received().find("good 1.2.3.4") != std::string::npos; }));
}

// A head of exactly `total` bytes, line endings included.
std::string headOfSize(size_t total) {
    std::string head = "GET /nic/update HTTP/1.1\r\nHost: x\r\n";
    while (head.size() + 2 + 100 + 20 < total)
        head += "X-Pad: " + std::string(91, 'a') + "\r\n";  // 100 bytes
    const size_t last = total - head.size() - 2;            // the last field line's bytes
    head += "X-Last: " + std::string(last - 10, 'b') + "\r\n\r\n";
    return head;
}

// The 8 KiB bound is on the head as sent: evhttp counts its bytes without the line endings,
// so 8193 bytes in 84 lines passed as 8027.
TEST_F(HttpServerTest, TheHeaderBoundCountsLineEndings) {
    start();
    ASSERT_EQ(headOfSize(HttpServer::kMaxHeadersSize).size(), HttpServer::kMaxHeadersSize);
    Client fits(port_);
    fits.send(headOfSize(HttpServer::kMaxHeadersSize));
    EXPECT_TRUE(test::runUntil(
        base_.get(), [&] { return fits.received().find("good 1.2.3.4") != std::string::npos; }));
    Client over(port_);
    over.send(headOfSize(HttpServer::kMaxHeadersSize + 1));
    EXPECT_TRUE(test::runUntil(base_.get(), [&] { return over.closedByServer(); }));
    EXPECT_EQ(over.received().rfind("HTTP/1.1 400", 0), 0u) << over.received();
    EXPECT_EQ(clients_.size(), 1u);
}

// A request waiting for the token API has reading off: its wait is dynamo.timeout's to bound.
TEST_F(HttpServerTest, ARequestWaitingForItsAnswerOutlivesTheLifetime) {
    answerAtOnce_ = false;
    limits_ = {16, 200ms, 50ms};
    start();
    Client client(port_);
    client.send(kGet);
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return held_.size() == 1; }));
    const auto end = std::chrono::steady_clock::now() + 600ms;
    test::runUntil(base_.get(), [&] {
        return client.closedByServer() || std::chrono::steady_clock::now() >= end;
    });
    EXPECT_FALSE(client.closedByServer()) << "closed while its answer was on the way";
    EXPECT_EQ(server_->connections().expired(), 0u);
    // Answered, the connection reads again and is past its lifetime: it may be closed, but
    // only after the answer is out.
    held_[0]->reply({200, "text/plain", "good 1.2.3.4", {}});
    ASSERT_TRUE(test::runUntil(
        base_.get(), [&] { return client.received().find("good 1.2.3.4") != std::string::npos; }));
}

// Shutdown (evhttp_free) with a request pending: libevent frees the request itself after the
// close callback; the exchange, dropped later, must neither answer nor free it.
TEST_F(HttpServerTest, ShutdownWithARequestPendingLeavesTheRequestToLibevent) {
    answerAtOnce_ = false;
    start();
    Client client(port_);
    client.send(kGet);
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return held_.size() == 1; }));
    server_.reset();
    EXPECT_TRUE(held_[0]->replied());
    held_.clear();  // the destructor must not answer 911 into a freed request
}

// The router's answer comes after a client is gone and after shutdown alike: a held exchange
// destroyed with neither happening answers 911 (HTTP 200, as every dyndns reply) from its
// destructor.
TEST_F(HttpServerTest, AnExchangeDroppedWithoutAnAnswerAnswers911) {
    answerAtOnce_ = false;
    start();
    Client client(port_);
    client.send(kGet);
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return held_.size() == 1; }));
    ::testing::internal::CaptureStderr();
    held_.clear();
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("ended without an answer"), std::string::npos) << log;
    ASSERT_TRUE(test::runUntil(
        base_.get(), [&] { return client.received().find("\r\n\r\n911") != std::string::npos; }));
    EXPECT_EQ(client.received().rfind("HTTP/1.1 200", 0), 0u) << client.received();
}

TEST_F(HttpServerTest, AClientOutsideAllowGets403) {
    start("127.0.0.1", "10.0.0.0/8");
    Client client(port_);
    client.send(kGet);
    ASSERT_TRUE(test::runUntil(
        base_.get(), [&] { return client.received().find("forbidden") != std::string::npos; }));
    EXPECT_EQ(client.received().rfind("HTTP/1.1 403", 0), 0u);
    EXPECT_TRUE(clients_.empty());
}

// evhttp_connection_get_peer() gives a link-local client as "fe80::…%eth0", which no address
// parser takes: such a device got 403. The sockaddr has no such problem.
TEST_F(HttpServerTest, ALinkLocalIpv6ClientIsKnownByItsAddress) {
    ifaddrs* list = nullptr;
    ASSERT_EQ(::getifaddrs(&list), 0);
    std::optional<sockaddr_in6> linkLocal;
    for (const ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
        if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET6)
            continue;
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(entry->ifa_addr);
        if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) && (entry->ifa_flags & IFF_UP) != 0) {
            linkLocal = *sin6;
            break;
        }
    }
    ::freeifaddrs(list);
    if (!linkLocal)
        GTEST_SKIP() << "no interface with a link-local IPv6 address";

    start("[::]", "fe80::/10", AF_INET6);
    linkLocal->sin6_port = htons(port_);
    Client client(reinterpret_cast<const sockaddr*>(&*linkLocal), sizeof *linkLocal);
    client.send(kGet);
    ASSERT_TRUE(test::runUntil(
        base_.get(), [&] { return client.received().find("\r\n\r\n") != std::string::npos; }));
    EXPECT_EQ(client.received().rfind("HTTP/1.1 200", 0), 0u) << client.received();
    ASSERT_EQ(clients_.size(), 1u);
    EXPECT_EQ(clients_[0], net::IpAddress::fromV6(linkLocal->sin6_addr));
}

TEST_F(HttpServerTest, AnIpv6LoopbackClientIsKnownByItsAddress) {
    start("[::1]", "::1/128", AF_INET6);
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_port = htons(port_);
    address.sin6_addr = in6addr_loopback;
    Client client(reinterpret_cast<const sockaddr*>(&address), sizeof address);
    client.send(kGet);
    ASSERT_TRUE(test::runUntil(
        base_.get(), [&] { return client.received().find("good 1.2.3.4") != std::string::npos; }));
    ASSERT_EQ(clients_.size(), 1u);
    EXPECT_EQ(clients_[0], *net::IpAddress::parse("::1"));
}

// Out of descriptors, accept() fails with EMFILE and the pending connection stays: without the
// back-off the listener fires again at once and the loop spins. Paused, it retries each second
// and serves the connection once descriptors are free again.
TEST_F(HttpServerTest, OutOfDescriptorsTheListenerPausesInsteadOfSpinning) {
    start();
    Client client(port_);  // its descriptor exists before they run out
    client.send(kGet);

    rlimit saved{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
    std::vector<int> fillers;
    for (;;) {
        const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        fillers.push_back(fd);
        if (fillers.size() > 100000)
            break;
    }
    ASSERT_EQ(errno, EMFILE);

    int turns = 0;
    const auto end = std::chrono::steady_clock::now() + 500ms;
    while (std::chrono::steady_clock::now() < end) {
        event_base_loop(base_.get(), EVLOOP_NONBLOCK);
        ++turns;
        ::usleep(1000);
    }
    const uint64_t pauses = server_->acceptPauses();
    for (const int fd : fillers)
        ::close(fd);
    EXPECT_GE(pauses, 1u);
    EXPECT_LE(pauses, 2u) << "paused for a second each time, not once per loop turn";
    EXPECT_TRUE(clients_.empty());

    ASSERT_TRUE(test::runUntil(
        base_.get(), [&] { return client.received().find("good 1.2.3.4") != std::string::npos; },
        5000ms))
        << "the listener did not resume";
}

// --- HTTPS: the context is made by the first TLS connection --------------------------------

// A non-blocking TLS client that trusts anything (the test is about which certificate comes).
class TlsClient {
  public:
    explicit TlsClient(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        // Loopback: the kernel completes the connection before the server accepts it.
        EXPECT_EQ(::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address),
                  0)
            << std::strerror(errno);
        ::fcntl(fd_.get(), F_SETFL, O_NONBLOCK);
        SSL_set_fd(ssl_.get(), fd_.get());
        SSL_set_connect_state(ssl_.get());
    }
    // One turn: the handshake and the request, then whatever the answer has so far. True once
    // the server has closed (or the handshake failed).
    bool step() {
        if (!sent_) {
            const int n = SSL_write(ssl_.get(), kGet.data(), static_cast<int>(kGet.size()));
            if (n > 0)
                sent_ = true;
            else if (!retry(n))
                return done_ = true;
            return false;
        }
        char buffer[4096];
        const int n = SSL_read(ssl_.get(), buffer, sizeof buffer);
        if (n > 0)
            received_.append(buffer, static_cast<size_t>(n));
        else if (!retry(n))
            done_ = true;
        return done_;
    }
    const std::string& received() const { return received_; }
    bool sent() const { return sent_; }
    X509* peerCertificate() const { return SSL_get0_peer_certificate(ssl_.get()); }

  private:
    bool retry(int result) {
        const int error = SSL_get_error(ssl_.get(), result);
        ERR_clear_error();
        return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE;
    }
    net::SslCtxPtr ctx_{SSL_CTX_new(TLS_client_method())};
    net::SslPtr ssl_{SSL_new(ctx_.get())};
    net::UniqueFd fd_;
    bool sent_ = false;
    bool done_ = false;
    std::string received_;
};

class HttpsServerTest : public HttpServerTest {
  protected:
    HttpsServerTest() {
        char pattern[] = "/tmp/http_server_test.XXXXXX";
        stateDir_ = ::mkdtemp(pattern);
    }
    ~HttpsServerTest() override { std::filesystem::remove_all(stateDir_); }

    std::optional<ServerIdentity> identity(const std::string& subdir) {
        std::string error;
        config::GatewayConfig gateway;
        gateway.tls.minVersion = "1.2";
        auto made = checkServerIdentity(gateway, {}, stateDir_ + "/" + subdir, &error);
        EXPECT_TRUE(made) << error;
        return made;
    }
    void startHttps(const ServerIdentity& tls) {
        port_ = freeTcpPort(AF_INET);
        std::string error;
        server_ = HttpServer::create(
            base_.get(), {}, {*net::SocketAddress::parse("127.0.0.1", port_)}, &tls,
            [](std::shared_ptr<HttpExchange> exchange) {
                exchange->reply({200, "text/plain", "good 1.2.3.4", {}});
            },
            &error);
        ASSERT_TRUE(server_) << error;
        server_->setAllow(net::CidrSet({*net::Cidr::parse("127.0.0.0/8")}));
    }
    // The serial of the certificate a TLS client was served, after a whole request.
    std::string servedSerial() {
        TlsClient client(port_);
        // The connection stays open (HTTP/1.1): done once the answer is there.
        EXPECT_TRUE(test::runUntil(base_.get(), [&] {
            return client.step() || client.received().find("good 1.2.3.4") != std::string::npos;
        }));
        EXPECT_NE(client.received().find("good 1.2.3.4"), std::string::npos) << client.received();
        X509* cert = client.peerCertificate();
        return cert != nullptr ? test::certificateSerial(cert) : "";
    }
    static std::string serialOf(const ServerIdentity& tls) {
        std::string error;
        auto ctx = makeServerContext(tls, &error);
        return ctx ? test::certificateSerial(SSL_CTX_get0_certificate(ctx.get())) : error;
    }

    std::string stateDir_;
};

TEST_F(HttpsServerTest, TheFirstTlsConnectionMakesTheContextAndASetTlsDropsIt) {
    const auto first = identity("first");
    const auto second = identity("second");
    ASSERT_TRUE(first && second);
    startHttps(*first);
    EXPECT_FALSE(server_->tlsContextMade());
    EXPECT_EQ(servedSerial(), serialOf(*first));
    EXPECT_TRUE(server_->tlsContextMade());
    EXPECT_EQ(servedSerial(), serialOf(*first));

    // SIGHUP with a new certificate: made again by the next connection, with it.
    server_->setTls(*second);
    EXPECT_FALSE(server_->tlsContextMade());
    EXPECT_EQ(servedSerial(), serialOf(*second));
    EXPECT_TRUE(server_->tlsContextMade());
}

TEST_F(HttpsServerTest, AContextThatCannotBeMadeRefusesTheConnectionWithoutTls) {
    auto broken = identity("broken");
    ASSERT_TRUE(broken);
    broken->certPem = "not a certificate";
    startHttps(*broken);
    TlsClient client(port_);
    ASSERT_TRUE(test::runUntil(base_.get(), [&] { return client.step(); }));
    EXPECT_FALSE(client.sent());
    EXPECT_EQ(client.received(), "");
    EXPECT_FALSE(server_->tlsContextMade());
}

}  // namespace
}  // namespace dynamo::gateway
