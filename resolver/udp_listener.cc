#include "resolver/udp_listener.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "net/bind_socket.h"
#include "net/log.h"

namespace dynamo::resolver {
namespace {
// Datagrams read per wake-up before yielding to the rest of the loop (TCP clients, timers).
constexpr int kBatch = 32;
constexpr size_t kMaxDatagram = 65535;

// Writes one control message into msg_control, which has room for it.
template <typename Info>
void putControl(msghdr& message, int level, int type, const Info& info) {
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = level;
    header->cmsg_type = type;
    header->cmsg_len = CMSG_LEN(sizeof info);
    std::memcpy(CMSG_DATA(header), &info, sizeof info);
    message.msg_controllen = CMSG_SPACE(sizeof info);
}
}  // namespace

std::shared_ptr<UdpListener> UdpListener::create(event_base* base,
                                                 const net::SocketAddress& address,
                                                 QueryHandler& handler, std::string* error) {
    std::shared_ptr<UdpListener> self(new UdpListener(handler, address));
    self->fd_ = net::bindSocket(address, SOCK_DGRAM, error);
    if (!self->fd_)
        return nullptr;
    const int on = 1;
    if (address.family() == AF_INET) {
        ::setsockopt(self->fd_.get(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
    } else {
        ::setsockopt(self->fd_.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
    }
    self->wildcard_ = address.ip().isUnspecified();
    self->readEvent_.reset(event_new(base, self->fd_.get(), EV_READ | EV_PERSIST,
                                     &UdpListener::onReadable, self.get()));
    event_add(self->readEvent_.get(), nullptr);
    return self;
}

void UdpListener::onReadable(evutil_socket_t, short, void* arg) {
    static_cast<UdpListener*>(arg)->readBatch();
}

void UdpListener::readBatch() {
    // The handler may answer synchronously: keep a reference for the batch (Reply::keep()
    // hands weak ones to the answers that come later).
    const std::shared_ptr<UdpListener> self = shared_from_this();
    static uint8_t buffer[kMaxDatagram];

    for (int i = 0; i < kBatch; ++i) {
        sockaddr_storage from{};
        alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(in6_pktinfo))];
        iovec iov{buffer, sizeof buffer};
        msghdr message{};
        message.msg_name = &from;
        message.msg_namelen = sizeof from;
        message.msg_iov = &iov;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof control;

        const ssize_t length = ::recvmsg(fd_.get(), &message, 0);
        if (length < 0)
            return;  // EAGAIN: drained; other errors (ICMP-induced) are per-datagram

        auto client = net::SocketAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&from),
                                                       message.msg_namelen);
        if (!client)
            continue;
        net::IpAddress local = address_.ip();
        int ifindex = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                in_pktinfo info;
                std::memcpy(&info, CMSG_DATA(c), sizeof info);
                // ipi_spec_dst, not ipi_addr: ipi_addr is the header's destination, a
                // broadcast or multicast address for such a query, which we can neither
                // answer from nor hand out; ipi_spec_dst is the local address the kernel
                // would reply from on that interface (ip(7)).
                local = net::IpAddress::fromV4(info.ipi_spec_dst);
                ifindex = info.ipi_ifindex;
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                in6_pktinfo info;
                std::memcpy(&info, CMSG_DATA(c), sizeof info);
                local = net::IpAddress::fromV6(info.ipi6_addr);
                ifindex = static_cast<int>(info.ipi6_ifindex);
            }
        }

        const QueryContext context{*client, local, Transport::Udp};
        handler_.handle({buffer, static_cast<size_t>(length)}, context,
                        Reply(*this, context.client, local, ifindex));
    }
}

void UdpListener::Reply::operator()(std::span<const uint8_t> answer) const {
    listener_.send(answer, client_, local_, ifindex_);
}

resolver::Reply UdpListener::Reply::keep() const {
    // Forwarded: the answer comes from the event loop later, perhaps after a reload dropped
    // this listener; the weak reference then finds it gone and the answer is dropped.
    return [weak = listener_.weak_from_this(), client = client_, local = local_,
            ifindex = ifindex_](std::span<const uint8_t> answer) {
        if (auto listener = weak.lock())
            listener->send(answer, client, local, ifindex);
    };
}

void UdpListener::send(std::span<const uint8_t> answer, const net::SocketAddress& client,
                       const net::IpAddress& local, int ifindex) {
    iovec iov{const_cast<uint8_t*>(answer.data()), answer.size()};
    msghdr message{};
    message.msg_name = const_cast<sockaddr*>(client.sockaddr_ptr());
    message.msg_namelen = client.length();
    message.msg_iov = &iov;
    message.msg_iovlen = 1;

    alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
    if (wildcard_) {
        // Answer from the address that was asked (RFC 1123 §6.1.3.5: clients check it).
        message.msg_control = control;
        message.msg_controllen = sizeof control;  // CMSG_FIRSTHDR needs it; putControl trims it
        if (address_.family() == AF_INET) {
            in_pktinfo info{};
            std::memcpy(&info.ipi_spec_dst, local.bytes(), 4);
            // ipi_ifindex stays 0: the routing table picks the way back (a routed client
            // may be reached through another interface than its query came in on).
            putControl(message, IPPROTO_IP, IP_PKTINFO, info);
        } else {
            in6_pktinfo info{};
            std::memcpy(&info.ipi6_addr, local.bytes(), 16);
            // Only a link-local source needs its interface named; elsewhere routing decides.
            const bool linkLocal = local.bytes()[0] == 0xfe && (local.bytes()[1] & 0xc0) == 0x80;
            info.ipi6_ifindex = linkLocal ? static_cast<unsigned>(ifindex) : 0;
            putControl(message, IPPROTO_IPV6, IPV6_PKTINFO, info);
        }
    }
    // A full socket buffer drops the answer; the client retries, as it would after loss.
    (void)::sendmsg(fd_.get(), &message, MSG_DONTWAIT);
}

}  // namespace dynamo::resolver
