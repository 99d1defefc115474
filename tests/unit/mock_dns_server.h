#pragma once
// A scriptable upstream DNS server on 127.0.0.1, port 0, in the test's own event loop (as
// c-ares' MockServer): UDP and TCP, answers from a function, records every query it receives.

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "net/handles.h"
#include "net/socket_address.h"

namespace dynamo::test {

using Bytes = std::vector<uint8_t>;

// A UDP socket and a TCP listener on one free port of 127.0.0.1, wired to the callbacks.
struct LoopbackEndpoint {
    net::UniqueFd udp;
    net::EventPtr udpEvent;
    net::ListenerPtr listener;
    uint16_t port = 0;

    static LoopbackEndpoint open(event_base* base, event_callback_fn onUdp,
                                 evconnlistener_cb onAccept, void* arg) {
        // The UDP port is the kernel's choice; the same number may be taken for TCP (another
        // test's connection, in a parallel run): then try another port, a bounded few times.
        for (int attempt = 0; attempt < 50; ++attempt) {
            LoopbackEndpoint endpoint;
            sockaddr_in address{};
            address.sin_family = AF_INET;
            address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            endpoint.udp.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0));
            ::bind(endpoint.udp.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
            socklen_t length = sizeof address;
            ::getsockname(endpoint.udp.get(), reinterpret_cast<sockaddr*>(&address), &length);
            endpoint.port = ntohs(address.sin_port);
            endpoint.listener.reset(evconnlistener_new_bind(
                base, onAccept, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                reinterpret_cast<sockaddr*>(&address), sizeof address));
            if (!endpoint.listener)
                continue;
            endpoint.udpEvent.reset(
                event_new(base, endpoint.udp.get(), EV_READ | EV_PERSIST, onUdp, arg));
            event_add(endpoint.udpEvent.get(), nullptr);
            return endpoint;
        }
        ADD_FAILURE() << "no free port on 127.0.0.1 for both UDP and TCP";
        return {};
    }
    net::SocketAddress address() const {
        return net::SocketAddress(*net::IpAddress::parse("127.0.0.1"), port);
    }
};

class MockDnsServer {
  public:
    // nullopt: stay silent (a dead upstream).
    using Responder = std::function<std::optional<Bytes>(const Bytes& query, bool tcp)>;

    MockDnsServer(event_base* base, Responder responder)
        : base_(base),
          responder_(std::move(responder)),
          endpoint_(LoopbackEndpoint::open(base, &onUdp, &onAccept, this)) {}

    uint16_t port() const { return endpoint_.port; }
    net::SocketAddress address() const { return endpoint_.address(); }
    const std::vector<Bytes>& udpQueries() const { return udpQueries_; }
    const std::vector<Bytes>& tcpQueries() const { return tcpQueries_; }
    // The source port of each of udpQueries(), in the same order.
    const std::vector<uint16_t>& udpSourcePorts() const { return udpSourcePorts_; }
    size_t queries() const { return udpQueries_.size() + tcpQueries_.size(); }
    void setResponder(Responder responder) { responder_ = std::move(responder); }
    // A datagram from the server's port to 127.0.0.1:port, unasked (a late or forged answer).
    void sendUdp(uint16_t port, const Bytes& datagram) const {
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        to.sin_port = htons(port);
        ::sendto(endpoint_.udp.get(), datagram.data(), datagram.size(), 0,
                 reinterpret_cast<sockaddr*>(&to), sizeof to);
    }

  private:
    static void onUdp(evutil_socket_t fd, short, void* arg) {
        auto* self = static_cast<MockDnsServer*>(arg);
        uint8_t buffer[65536];
        sockaddr_storage from{};
        socklen_t fromLength = sizeof from;
        const ssize_t n = ::recvfrom(fd, buffer, sizeof buffer, 0,
                                     reinterpret_cast<sockaddr*>(&from), &fromLength);
        if (n <= 0)
            return;
        Bytes query(buffer, buffer + n);
        self->udpQueries_.push_back(query);
        // sin_port and sin6_port sit at the same offset.
        self->udpSourcePorts_.push_back(ntohs(reinterpret_cast<sockaddr_in*>(&from)->sin_port));
        if (auto answer = self->responder_(query, false)) {
            ::sendto(fd, answer->data(), answer->size(), 0, reinterpret_cast<sockaddr*>(&from),
                     fromLength);
        }
    }
    static void onAccept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
        auto* self = static_cast<MockDnsServer*>(arg);
        bufferevent* bev = bufferevent_socket_new(self->base_, fd, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_setcb(bev, &onTcpRead, nullptr, nullptr, self);
        bufferevent_enable(bev, EV_READ | EV_WRITE);
        self->connections_.emplace_back(bev);
    }
    static void onTcpRead(bufferevent* bev, void* arg) {
        auto* self = static_cast<MockDnsServer*>(arg);
        evbuffer* input = bufferevent_get_input(bev);
        uint8_t prefix[2];
        while (evbuffer_copyout(input, prefix, 2) == 2) {
            const size_t length = static_cast<size_t>(prefix[0] << 8 | prefix[1]);
            if (evbuffer_get_length(input) < 2 + length)
                return;
            evbuffer_drain(input, 2);
            Bytes query(length);
            evbuffer_remove(input, query.data(), length);
            self->tcpQueries_.push_back(query);
            if (auto answer = self->responder_(query, true)) {
                const uint8_t out[2] = {static_cast<uint8_t>(answer->size() >> 8),
                                        static_cast<uint8_t>(answer->size())};
                bufferevent_write(bev, out, 2);
                bufferevent_write(bev, answer->data(), answer->size());
            }
        }
    }

    event_base* base_;
    Responder responder_;
    LoopbackEndpoint endpoint_;
    std::vector<net::BufferEventPtr> connections_;
    std::vector<Bytes> udpQueries_;
    std::vector<Bytes> tcpQueries_;
    std::vector<uint16_t> udpSourcePorts_;
};

}  // namespace dynamo::test
