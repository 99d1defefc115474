// The DNS half as the daemon builds it, in process: listeners on loopback port 0, addresses
// injected.

#include "resolver/dns_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "dns_test_util.h"
#include "event_loop_util.h"
#include "net/bind_socket.h"

namespace dynamo::resolver {
namespace {

using dns::test::Bytes;
using dns::test::MessageBuilder;

net::IpAddress ip(const char* text) {
    return *net::IpAddress::parse(text);
}

// The A record of an intercepted answer; empty when there is none.
Bytes answeredAddress(const Bytes& answer) {
    const dns::Message message = dns::test::parseOrDie(answer);
    if (message.records.empty())
        return {};
    const dns::RecordRef& record = message.records[0];
    return Bytes(answer.begin() + static_cast<long>(record.rdataOffset),
                 answer.begin() + static_cast<long>(record.rdataOffset + record.rdataLength));
}

// Regression: `answer_ipv4: auto` read the host's addresses once at start; a DHCP renewal or an
// interface that came up later was never seen until a restart.
TEST(DnsServerTest, HostAddressesAreReadAgainOnReconfigure) {
    net::EventBasePtr base(event_base_new());
    config::DnsConfig config;
    config.listen = {net::SocketAddress(ip("127.0.0.1"), 0)};
    config.upstreams = {net::SocketAddress(ip("127.0.0.1"), 9)};
    config.allow = net::CidrSet({*net::Cidr::parse("127.0.0.0/8")});
    std::vector<net::IpAddress> host = {ip("10.0.0.1")};
    std::string error;
    auto server = DnsServer::create(base.get(), config, std::chrono::steady_clock::now, &error,
                                    [&] { return host; });
    ASSERT_TRUE(server) << error;

    // An A query that arrived over IPv6: auto falls back to the host's IPv4 addresses.
    const auto ask = [&] {
        Bytes answer;
        const QueryContext context{net::SocketAddress(ip("127.0.0.1"), 40000), ip("::1"),
                                   Transport::Udp};
        server->handler().handle(
            MessageBuilder().question("members.dyndns.org", dns::type::A).build(), context,
            [&](std::span<const uint8_t> a) { answer.assign(a.begin(), a.end()); });
        return answeredAddress(answer);
    };
    EXPECT_EQ(ask(), (Bytes{10, 0, 0, 1}));

    host = {ip("169.254.3.4"), ip("192.168.1.2")};  // link-local is the last resort
    ASSERT_TRUE(server->reconfigure(config, &error)) << error;
    EXPECT_EQ(ask(), (Bytes{192, 168, 1, 2}));
}

// The UDP listener reads datagrams in batches (recvmmsg) and sends the answers it gives at once
// together (sendmmsg): a burst larger than one batch, from many clients, is answered in full,
// each answer to its own client with its own ID.
TEST(DnsServerTest, ABurstOfDatagramsIsAnsweredEachToItsClient) {
    // A free port for the listeners (UDP and TCP bind the same one).
    net::UniqueFd probe(::socket(AF_INET, SOCK_DGRAM, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(probe.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    ::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&address), &length);
    probe.reset();

    net::EventBasePtr base(event_base_new());
    config::DnsConfig config;
    config.listen = {net::SocketAddress(ip("127.0.0.1"), ntohs(address.sin_port))};
    config.upstreams = {net::SocketAddress(ip("127.0.0.1"), 9)};
    config.allow = net::CidrSet({*net::Cidr::parse("127.0.0.0/8")});
    std::string error;
    auto server = DnsServer::create(base.get(), config, std::chrono::steady_clock::now, &error,
                                    [] { return std::vector<net::IpAddress>{}; });
    ASSERT_TRUE(server) << error;

    // More clients than one batch takes (32), all sent before the loop runs once.
    constexpr int kClients = 45;
    std::vector<net::UniqueFd> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
        const Bytes query = MessageBuilder()
                                .id(static_cast<uint16_t>(1000 + i))
                                .question("members.dyndns.org", dns::type::A)
                                .build();
        ASSERT_EQ(::sendto(clients.back().get(), query.data(), query.size(), 0,
                           reinterpret_cast<sockaddr*>(&address), sizeof address),
                  static_cast<ssize_t>(query.size()));
    }
    std::vector<std::optional<Bytes>> answers(kClients);
    const auto collect = [&] {
        for (int i = 0; i < kClients; ++i) {
            uint8_t buffer[512];
            const ssize_t n = ::recv(clients[i].get(), buffer, sizeof buffer, 0);
            if (n > 0)
                answers[i] = Bytes(buffer, buffer + n);
        }
        return std::all_of(answers.begin(), answers.end(),
                           [](const auto& answer) { return answer.has_value(); });
    };
    ASSERT_TRUE(test::runUntil(base.get(), collect));
    for (int i = 0; i < kClients; ++i) {
        EXPECT_EQ(dns::getId(*answers[i]), 1000 + i);
        // auto on a loopback listener: the address the query was sent to.
        EXPECT_EQ(answeredAddress(*answers[i]), (Bytes{127, 0, 0, 1}));
    }
    EXPECT_EQ(server->handler().stats().intercepted, static_cast<uint64_t>(kClients));
}

// Regression: SO_REUSEADDR on our UDP socket let us bind port 53 beside dnsmasq or Pi-hole
// (which set it too) and silently share its queries instead of saying the port is taken.
TEST(BindSocketTest, AUdpPortHeldByAnotherReuseAddrSocketIsReportedInUse) {
    net::UniqueFd other(::socket(AF_INET, SOCK_DGRAM, 0));
    const int on = 1;
    ::setsockopt(other.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(other.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    ::getsockname(other.get(), reinterpret_cast<sockaddr*>(&address), &length);
    const net::SocketAddress taken(ip("127.0.0.1"), ntohs(address.sin_port));

    std::string error;
    EXPECT_FALSE(net::bindSocket(taken, SOCK_DGRAM, &error));
    EXPECT_NE(error.find("Address already in use"), std::string::npos) << error;
}

TEST(BindSocketTest, TcpStillRebindsOverTimeWait) {
    std::string error;
    net::UniqueFd first =
        net::bindSocket(net::SocketAddress(ip("127.0.0.1"), 0), SOCK_STREAM, &error);
    ASSERT_TRUE(first) << error;
    int reuse = 0;
    socklen_t length = sizeof reuse;
    ::getsockopt(first.get(), SOL_SOCKET, SO_REUSEADDR, &reuse, &length);
    EXPECT_NE(reuse, 0);
}

}  // namespace
}  // namespace dynamo::resolver
