#include "resolver/udp_listener.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "net/bind_socket.h"
#include "net/datagrams.h"
#include "net/log.h"

namespace dynamo::resolver {
namespace {
// Datagrams read per wake-up (one recvmmsg) before yielding to the rest of the loop (TCP
// clients, timers).
constexpr unsigned kBatch = 32;
constexpr size_t kMaxDatagram = 65535;
constexpr size_t kControlSize = CMSG_SPACE(sizeof(in6_pktinfo));

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

// Client queries as one recvmmsg() reads them. One thread serves every listener and a batch is
// handled before the next is read, so the listeners share it; the tail of each 64 KiB buffer
// never becomes resident for ordinary queries.
net::ReceiveBatch<kBatch, kMaxDatagram, kControlSize> inbox;
}  // namespace

// The answers given while a batch is handled, or during one turn of the event loop for
// answers from upstream, sent together by one sendmmsg() once the batch or the turn is done.
// An answer is at most the client's UDP size (cut to TC=1 above it), so kMaxAnswer bytes each
// nearly always suffice; a larger one is sent at once.
struct UdpListener::Outbox {
    static constexpr size_t kMaxAnswer = 4096;
    mmsghdr messages[kBatch];
    iovec iov[kBatch];
    sockaddr_storage to[kBatch];
    alignas(cmsghdr) uint8_t control[kBatch][kControlSize];
    uint8_t answers[kBatch][kMaxAnswer];
    unsigned count = 0;
};

std::shared_ptr<UdpListener> UdpListener::create(event_base* base,
                                                 const net::SocketAddress& address,
                                                 QueryHandler& handler, std::string* error) {
    std::shared_ptr<UdpListener> self(new UdpListener(base, handler, address));
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
    // Default-initialised, not value-initialised (make_unique would zero its 140 KB): pages
    // are made resident only as answers are written into them.
    self->outbox_.reset(new Outbox);
    self->readEvent_.reset(event_new(base, self->fd_.get(), EV_READ | EV_PERSIST,
                                     &UdpListener::onReadable, self.get()));
    event_add(self->readEvent_.get(), nullptr);
    return self;
}

void UdpListener::onReadable(evutil_socket_t, short, void* arg) {
    static_cast<UdpListener*>(arg)->readBatch();
}

UdpListener::UdpListener(event_base* base, QueryHandler& handler, net::SocketAddress address)
    : handler_(handler), address_(address), endOfTurn_(base, [this] { flush(); }) {}

UdpListener::~UdpListener() {
    if (outbox_)
        flush();
}

void UdpListener::readBatch() {
    // The handler may answer synchronously: keep a reference for the batch (Reply::keep()
    // hands weak ones to the answers that come later).
    const std::shared_ptr<UdpListener> self = shared_from_this();

    // EAGAIN: nothing to read; other errors (ICMP-induced) end the batch as well.
    const int received = inbox.receive(fd_.get(), 0);
    if (received <= 0)
        return;

    batching_ = true;
    for (unsigned i = 0; i < static_cast<unsigned>(received); ++i) {
        msghdr& message = inbox.messages[i].msg_hdr;
        auto client = net::SocketAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&inbox.from[i]),
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
        handler_.handle(inbox.datagram(i), context, Reply(*this, context.client, local, ifindex));
    }
    batching_ = false;
    flush();
}

void UdpListener::flush() {
    Outbox& out = *outbox_;
    net::sendAll(fd_.get(), out.messages, out.count);
    out.count = 0;
}

void UdpListener::Reply::operator()(std::span<const uint8_t> answer) const {
    listener_.send(answer, client_, local_, ifindex_);
}

void UdpListener::queue(std::span<const uint8_t> answer, const net::SocketAddress& client,
                        const net::IpAddress& local, int ifindex) {
    Outbox& out = *outbox_;
    if (out.count == kBatch)
        flush();  // answers for waiters of earlier batches came too (a synchronous failure)
    const unsigned i = out.count++;
    std::memcpy(out.answers[i], answer.data(), answer.size());
    std::memcpy(&out.to[i], client.sockaddr_ptr(), client.length());
    out.iov[i] = {out.answers[i], answer.size()};
    msghdr& message = out.messages[i].msg_hdr;
    message = {};
    message.msg_name = &out.to[i];
    message.msg_namelen = client.length();
    message.msg_iov = &out.iov[i];
    message.msg_iovlen = 1;
    setSource(message, out.control[i], local, ifindex);
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
    if (answer.size() <= Outbox::kMaxAnswer) {
        queue(answer, client, local, ifindex);
        // Outside a batch (an upstream's answer, read by c-ares): the flush event runs after
        // the other callbacks this turn of the loop has ready, so the answers of every
        // upstream socket that was readable leave together, in one sendmmsg().
        if (!batching_)
            endOfTurn_.schedule();
        return;
    }
    iovec iov{const_cast<uint8_t*>(answer.data()), answer.size()};
    msghdr message{};
    message.msg_name = const_cast<sockaddr*>(client.sockaddr_ptr());
    message.msg_namelen = client.length();
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    alignas(cmsghdr) uint8_t control[kControlSize];
    setSource(message, control, local, ifindex);
    // A full socket buffer drops the answer; the client retries, as it would after loss.
    (void)::sendmsg(fd_.get(), &message, MSG_DONTWAIT);
}

void UdpListener::setSource(msghdr& message, uint8_t* control, const net::IpAddress& local,
                            int ifindex) const {
    if (!wildcard_)
        return;
    // Answer from the address that was asked (RFC 1123 §6.1.3.5: clients check it).
    std::memset(control, 0, kControlSize);
    message.msg_control = control;
    message.msg_controllen = kControlSize;  // CMSG_FIRSTHDR needs it; putControl trims it
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

}  // namespace dynamo::resolver
