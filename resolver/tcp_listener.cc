#include "resolver/tcp_listener.h"

#include <sys/socket.h>

#include <algorithm>

#include "net/bind_socket.h"
#include "net/log.h"

namespace dynamo::resolver {

std::unique_ptr<TcpListener> TcpListener::create(event_base* base,
                                                 const net::SocketAddress& address,
                                                 QueryHandler& handler, std::string* error,
                                                 TcpLimits limits) {
    std::unique_ptr<TcpListener> self(new TcpListener(base, handler, address, limits));
    net::UniqueFd fd = net::bindSocket(address, SOCK_STREAM, error);
    if (!fd)
        return nullptr;
    self->listener_.reset(evconnlistener_new(base, &TcpListener::onAccept, self.get(),
                                             LEV_OPT_CLOSE_ON_FREE, 64, fd.get()));
    if (!self->listener_) {
        *error = "cannot listen on tcp " + address.toString();
        return nullptr;
    }
    fd.release();
    self->backoff_ = std::make_unique<net::AcceptBackoff>(self->listener_.get());
    return self;
}

TcpListener::~TcpListener() {
    // Each close() reports back through onClosed, which erases from connections_: iterate over
    // a moved-out copy.
    auto connections = std::move(connections_);
    for (auto& [raw, connection] : connections)
        connection->close();
}

net::SocketAddress TcpListener::boundAddress() const {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    ::getsockname(evconnlistener_get_fd(listener_.get()), reinterpret_cast<sockaddr*>(&storage),
                  &length);
    return net::SocketAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&storage), length)
        .value_or(address_);
}

size_t TcpListener::bufferedOutput() const {
    size_t total = 0;
    for (const auto& [raw, connection] : connections_)
        total += connection->bufferedOutput();
    return total;
}

namespace {
// How long a client outside dns.allow may keep its connection, in all, for its one answer.
constexpr std::chrono::milliseconds kRefusedIdleTimeout{2000};
}  // namespace

void TcpListener::onAccept(evconnlistener*, evutil_socket_t fd, sockaddr* from, int length,
                           void* arg) {
    auto* self = static_cast<TcpListener*>(arg);
    net::UniqueFd owned(fd);
    if (self->connections_.size() >= self->limits_.maxConnections)
        return;  // closes it
    auto client = net::SocketAddress::fromSockaddr(from, static_cast<socklen_t>(length));
    if (!client)
        return;
    // Outside dns.allow a client gets its REFUSED (SPEC §5) for one query, then the connection
    // closes: it cannot hold a slot, or pipeline into our buffers, until the idle timeout.
    TcpLimits limits = self->limits_;
    if (!self->handler_.allows(client->ip())) {
        ++self->refused_;
        limits.maxQueries = 1;
        limits.maxInFlightPerConnection = 1;
        limits.idleTimeout = std::min(limits.idleTimeout, kRefusedIdleTimeout);
        limits.lifetime = kRefusedIdleTimeout;
    }
    sockaddr_storage localStorage{};
    socklen_t localLength = sizeof localStorage;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&localStorage), &localLength);
    auto local =
        net::SocketAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&localStorage), localLength);
    if (!local)
        return;

    // Already non-blocking: evconnlistener accepts with SOCK_NONBLOCK.
    const QueryContext context{*client, local->ip(), Transport::Tcp};
    auto connection = std::make_shared<TcpConnection>(
        self->base_, std::move(owned), context, self->handler_, limits,
        [self](TcpConnection* closed) { self->connections_.erase(closed); });
    self->connections_.emplace(connection.get(), connection);
    connection->start();
}

}  // namespace dynamo::resolver
