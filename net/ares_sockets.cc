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
unsigned readAheadCount = 0;  // datagrams in the batch
unsigned readAheadNext = 0;   // the next one to hand out

void forget(ares_socket_t fd) {
    if (readAheadFd == fd) {
        readAheadFd = ARES_SOCKET_BAD;
        readAheadCount = readAheadNext = 0;
    }
}

ares_socket_t openSocket(int domain, int type, int protocol, void* sockets) {
    return static_cast<AresSockets*>(sockets)->open(domain, type, protocol);
}

int closeSocket(ares_socket_t fd, void* sockets) {
    return static_cast<AresSockets*>(sockets)->close(fd);
}

int connectSocket(ares_socket_t fd, const sockaddr* address, ares_socklen_t length, void*) {
    return ::connect(fd, address, length);
}

// Fills the batch from `fd`; false (errno set) when the kernel had nothing or failed.
bool fill(ares_socket_t fd) {
    const int received = readAhead.receive(fd, MSG_DONTWAIT);
    if (received <= 0) {
        forget(fd);
        return false;
    }
    readAheadFd = fd;
    readAheadCount = static_cast<unsigned>(received);
    readAheadNext = 0;
    return true;
}

ares_ssize_t receive(ares_socket_t fd, void* data, size_t length, int flags, sockaddr* from,
                     ares_socklen_t* fromLength, void*) {
    if (from == nullptr || flags != 0)  // TCP (c-ares asks without an address), or unusual
        return ::recvfrom(fd, data, length, flags, from, fromLength);
    if (readAheadFd != fd || readAheadNext == readAheadCount) {
        // A batch that was not full found the socket empty already: the kernel would say
        // EAGAIN now too (a datagram arriving meanwhile wakes the loop again).
        if (readAheadFd == fd && readAheadCount < kReadAhead) {
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
    return readAheadFd == fd && readAheadNext < readAheadCount;
}

AresSockets::AresSockets(event_base* base) : endOfTurn_(base, [this] { endTurn(); }) {}

AresSockets::~AresSockets() {
    retired_.clear();
    for (const ares_socket_t fd : closing_)
        ::close(fd);
}

void AresSockets::retire(EventPtr event) {
    retired_.push_back(std::move(event));
    endOfTurn_.schedule();
}

ares_socket_t AresSockets::open(int domain, int type, int protocol) {
    const int fd = ::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return ARES_SOCKET_BAD;
    if (type == SOCK_STREAM) {
        // As c-ares does for its own TCP sockets: one question, one write, no Nagle delay.
        const int on = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    } else {
        udpSockets_.push_back(fd);
    }
    return fd;
}

int AresSockets::close(ares_socket_t fd) {
    forget(fd);
    // What was queued for it goes with it (c-ares closes a socket whose questions it gave up
    // or moved), and its number may come back for another socket.
    std::erase_if(queued_, [fd](const Datagram& datagram) { return datagram.fd == fd; });
    std::erase(udpSockets_, fd);
    // Open until the end of the turn, so its number is not given to another socket before
    // its event is gone.
    closing_.push_back(fd);
    endOfTurn_.schedule();
    return 0;
}

ares_ssize_t AresSockets::send(ares_socket_t fd, const iovec* vector, int count) {
    // A question is a few dozen bytes; anything unusual (TCP, a huge question) goes at once.
    constexpr size_t kQueuedMax = 1232;
    size_t length = 0;
    for (int i = 0; i < count; ++i)
        length += vector[i].iov_len;
    if (std::find(udpSockets_.begin(), udpSockets_.end(), fd) == udpSockets_.end() ||
        length > kQueuedMax) {
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
