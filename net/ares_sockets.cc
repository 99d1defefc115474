#include "net/ares_sockets.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/datagrams.h"
#include "net/timeval.h"

namespace dynamo::net {
namespace {
// Answers taken per recvmmsg(): the forwarder sends a handful of questions per socket
// (resolver/forwarder.h), so this holds every answer a wake-up normally finds.
constexpr unsigned kReadAhead = 16;
// c-ares reads UDP into MAXENDSSZ + 1 bytes (ares_process.c): as large, so that a datagram
// is cut exactly where c-ares' own recvfrom() would cut it.
constexpr size_t kDatagram = 4096 + 1;

// One thread drives every channel and c-ares reads one socket at a time to the end, so one
// batch serves them all.
ReceiveBatch<kReadAhead, kDatagram> readAhead;
ares_socket_t readAheadFd = ARES_SOCKET_BAD;
unsigned readAheadNext = 0;  // the next one to hand out

void forget(ares_socket_t fd) {
    if (readAheadFd == fd) {
        readAheadFd = ARES_SOCKET_BAD;
        readAheadNext = 0;
    }
}

ares_socket_t openSocket(int domain, int type, int protocol, void* sockets) {
    return static_cast<AresSockets*>(sockets)->open(domain, type, protocol);
}

int closeSocket(ares_socket_t fd, void* sockets) {
    return static_cast<AresSockets*>(sockets)->close(fd);
}

int connectSocket(ares_socket_t fd, const sockaddr* address, ares_socklen_t length, void* sockets) {
    return static_cast<AresSockets*>(sockets)->connect(fd, address, length);
}

// Fills the batch from `fd`; false (errno set) when the kernel had nothing or failed.
bool fill(ares_socket_t fd) {
    const int received = readAhead.receive(fd, MSG_DONTWAIT);
    if (received <= 0) {
        forget(fd);
        return false;
    }
    readAheadFd = fd;
    readAheadNext = 0;
    return true;
}

ares_ssize_t receive(ares_socket_t fd, void* data, size_t length, int flags, sockaddr* from,
                     ares_socklen_t* fromLength, void*) {
    if (from == nullptr || flags != 0)  // TCP (c-ares asks without an address), or unusual
        return ::recvfrom(fd, data, length, flags, from, fromLength);
    if (readAheadFd != fd || readAheadNext == readAhead.count()) {
        // A batch that was not full found the socket empty already: the kernel would say
        // EAGAIN now too (a datagram arriving meanwhile wakes the loop again).
        if (readAheadFd == fd && readAhead.count() < kReadAhead) {
            forget(fd);
            errno = EAGAIN;
            return -1;
        }
        if (!fill(fd))
            return -1;
    }
    const unsigned i = readAheadNext++;
    const msghdr& message = readAhead.messages[i].msg_hdr;
    const std::span<const uint8_t> datagram = readAhead.datagram(i);
    const size_t size = std::min(datagram.size(), length);
    std::memcpy(data, datagram.data(), size);
    if (fromLength != nullptr) {
        const ares_socklen_t room = *fromLength;
        std::memcpy(from, &readAhead.from[i], std::min<size_t>(room, message.msg_namelen));
        *fromLength = message.msg_namelen;
    }
    return static_cast<ares_ssize_t>(size);
}

ares_ssize_t sendVector(ares_socket_t fd, const iovec* vector, int count, void* sockets) {
    return static_cast<AresSockets*>(sockets)->send(fd, vector, count);
}

const ares_socket_functions kFunctions = {openSocket, closeSocket, connectSocket, receive,
                                          sendVector};
}  // namespace

const ares_socket_functions& aresSocketFunctions() {
    return kFunctions;
}

bool aresReadAheadPending(ares_socket_t fd) {
    return readAheadFd == fd && readAheadNext < readAhead.count();
}

AresSockets::AresSockets(event_base* base, std::chrono::milliseconds keepIdle)
    : keepIdle_(keepIdle), endOfTurn_(base, [this] { endTurn(); }) {
    if (keepIdle_.count() > 0)
        keepTimer_.reset(evtimer_new(base, &AresSockets::onKeepTimer, this));
}

AresSockets::~AresSockets() {
    retired_.clear();
    for (const ares_socket_t fd : closing_)
        ::close(fd);
    if (holdsKept()) {
        kept_.event.reset();
        ::close(kept_.fd);
    }
}

void AresSockets::retire(EventPtr event) {
    retired_.push_back(std::move(event));
    endOfTurn_.schedule();
}

ares_socket_t AresSockets::open(int domain, int type, int protocol) {
    if (type == SOCK_DGRAM && keptIdle(kept_.fd) && findUdp(kept_.fd)->domain == domain) {
        kept_.handedOut = true;
        return kept_.fd;
    }
    const int fd = ::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return ARES_SOCKET_BAD;
    if (type == SOCK_STREAM) {
        // As c-ares does for its own TCP sockets: one question, one write, no Nagle delay.
        const int on = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    } else {
        udpSockets_.push_back({fd, domain, {}, 0});
    }
    return fd;
}

int AresSockets::connect(ares_socket_t fd, const sockaddr* address, socklen_t length) {
    UdpSocket* udp = findUdp(fd);
    if (udp != nullptr && udp->peerLength == length &&
        std::memcmp(&udp->peer, address, length) == 0) {
        return 0;  // the kept socket, handed out again: connected there already
    }
    const int result = ::connect(fd, address, length);
    if (result == 0 && udp != nullptr && length <= sizeof udp->peer) {
        std::memcpy(&udp->peer, address, length);
        udp->peerLength = length;
    }
    return result;
}

int AresSockets::close(ares_socket_t fd) {
    forget(fd);
    // What was queued for it goes with it (c-ares closes a socket whose questions it gave up
    // or moved).
    std::erase_if(queued_, [fd](const Datagram& datagram) { return datagram.fd == fd; });
    if (keptIdle(fd))
        return 0;  // keep() took it over: open for the channel's next question
    if (fd == kept_.fd) {
        // Handed out again and closed before c-ares watched it (a failed connect).
        retire(std::move(kept_.event));
        kept_ = {};
    }
    closeAtEndOfTurn(fd);
    return 0;
}

void AresSockets::closeAtEndOfTurn(ares_socket_t fd) {
    std::erase_if(udpSockets_, [fd](const UdpSocket& socket) { return socket.fd == fd; });
    // Open until the end of the turn, so its number is not given to another socket before
    // its event is gone.
    closing_.push_back(fd);
    endOfTurn_.schedule();
}

AresSockets::UdpSocket* AresSockets::findUdp(ares_socket_t fd) {
    for (UdpSocket& socket : udpSockets_) {
        if (socket.fd == fd)
            return &socket;
    }
    return nullptr;
}

EventPtr AresSockets::keep(ares_socket_t fd, EventPtr event) {
    const UdpSocket* udp = findUdp(fd);
    if (!keepTimer_ || udp == nullptr || holdsKept())
        return event;
    kept_.fd = fd;
    kept_.handedOut = false;
    kept_.event = std::move(event);
    kept_.since = std::chrono::steady_clock::now();
    if (!evtimer_pending(keepTimer_.get(), nullptr)) {
        const timeval wait = toTimeval(keepIdle_);
        evtimer_add(keepTimer_.get(), &wait);
    }
    return nullptr;
}

EventPtr AresSockets::reclaim(ares_socket_t fd) {
    if (fd != kept_.fd || !kept_.handedOut)
        return nullptr;
    EventPtr event = std::move(kept_.event);
    kept_ = {};
    return event;
}

void AresSockets::release() {
    if (!keptIdle(kept_.fd))
        return;
    const ares_socket_t fd = kept_.fd;
    retire(std::move(kept_.event));
    kept_ = {};
    forget(fd);
    closeAtEndOfTurn(fd);
}

void AresSockets::onKeepTimer(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<AresSockets*>(arg);
    if (!self->keptIdle(self->kept_.fd))
        return;  // none kept, or in use again: the next keep() sets the timer
    // Set once per keep, not per question: a socket kept again meanwhile gets its rest.
    const auto idle = std::chrono::steady_clock::now() - self->kept_.since;
    if (idle >= self->keepIdle_) {
        self->release();
        return;
    }
    const timeval wait =
        toTimeval(std::chrono::duration_cast<std::chrono::microseconds>(self->keepIdle_ - idle));
    evtimer_add(self->keepTimer_.get(), &wait);
}

ares_ssize_t AresSockets::send(ares_socket_t fd, const iovec* vector, int count) {
    // A question is a few dozen bytes; anything unusual (TCP, a huge question) goes at once.
    constexpr size_t kQueuedMax = 1232;
    size_t length = 0;
    for (int i = 0; i < count; ++i)
        length += vector[i].iov_len;
    if (length > kQueuedMax || findUdp(fd) == nullptr) {
        return ::writev(fd, vector, count);
    }
    // A turn queues at most what the listeners read in it (resolver/udp_listener.h: a batch
    // each), so the queue needs no bound of its own.
    queued_.push_back({fd, bytes_.size(), length});
    for (int i = 0; i < count; ++i) {
        const auto* data = static_cast<const uint8_t*>(vector[i].iov_base);
        bytes_.insert(bytes_.end(), data, data + vector[i].iov_len);
    }
    endOfTurn_.schedule();
    return static_cast<ares_ssize_t>(length);
}

void AresSockets::endTurn() {
    sendQueued();
    retired_.clear();
    for (const ares_socket_t fd : closing_)
        ::close(fd);
    closing_.clear();
}

void AresSockets::sendQueued() {
    // Datagrams per sendmmsg(): a turn's questions to one upstream socket nearly always fit.
    constexpr unsigned kSendBatch = 32;
    mmsghdr messages[kSendBatch];
    iovec iov[kSendBatch];
    size_t first = 0;
    while (first < queued_.size()) {
        // The run of datagrams for one socket, in the order c-ares sent them.
        const ares_socket_t fd = queued_[first].fd;
        unsigned n = 0;
        while (first + n < queued_.size() && queued_[first + n].fd == fd && n < kSendBatch) {
            const Datagram& datagram = queued_[first + n];
            iov[n] = {bytes_.data() + datagram.offset, datagram.length};
            messages[n] = {};
            messages[n].msg_hdr.msg_iov = &iov[n];
            messages[n].msg_hdr.msg_iovlen = 1;
            ++n;
        }
        sendAll(fd, messages, n);
        first += n;
    }
    queued_.clear();
    bytes_.clear();
}

}  // namespace dynamo::net
