#include "resolver/tcp_listener.h"

#include <sys/socket.h>

#include <algorithm>
#include <string>

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

TcpConnection* TcpListener::longestWaiting(const net::IpAddress* client) const {
    TcpConnection* oldest = nullptr;
    for (const auto& [raw, connection] : connections_) {
        if (!connection->waitingForQuery())
            continue;
        if (client != nullptr && !(connection->context().client.ip().unmapped() == *client))
            continue;
        if (oldest == nullptr || connection->waitingSince() < oldest->waitingSince())
            oldest = raw;
    }
    return oldest;
}

void TcpListener::warnAtCap(const std::string& what) {
    // Once a minute at most, as for HTTP: a flood must not flood the log too.
    const auto now = std::chrono::steady_clock::now();
    if (now - lastCapWarning_ < std::chrono::minutes(1))
        return;
    lastCapWarning_ = now;
    DLOG(Warning) << "dns: " << what
                  << "; new tcp connections take the place of the longest idle ones";
}

bool TcpListener::makeRoom(const net::IpAddress& client) {
    const size_t perClient = static_cast<size_t>(
        std::count_if(connections_.begin(), connections_.end(), [&](const auto& entry) {
            return entry.second->context().client.ip().unmapped() == client;
        }));
    if (limits_.maxConnectionsPerClient != 0 && perClient >= limits_.maxConnectionsPerClient) {
        warnAtCap(std::to_string(perClient) + " tcp connections open from " + client.toString() +
                  ", the most allowed from one address");
        TcpConnection* victim = longestWaiting(&client);
        ++closedOverCap_;
        if (victim == nullptr)
            return false;
        victim->close();  // erases it from connections_
    }
    if (connections_.size() >= limits_.maxConnections) {
        warnAtCap(std::to_string(connections_.size()) + " tcp connections open, the most allowed");
        TcpConnection* victim = longestWaiting(nullptr);
        ++closedOverCap_;
        if (victim == nullptr)
            return false;
        victim->close();
    }
    return true;
}

void TcpListener::onAccept(evconnlistener*, evutil_socket_t fd, sockaddr* from, int length,
                           void* arg) {
    auto* self = static_cast<TcpListener*>(arg);
    net::UniqueFd owned(fd);
    auto client = net::SocketAddress::fromSockaddr(from, static_cast<socklen_t>(length));
    if (!client)
        return;
    if (!self->makeRoom(client->ip().unmapped()))
        return;  // closes it
    // Outside dns.allow a client gets its REFUSED (docs/dns.md#access-control) for one query, then
    // the connection closes: it cannot hold a slot, or pipeline into our buffers, until the idle
    // timeout.
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
