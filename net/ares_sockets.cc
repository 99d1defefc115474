#include "net/ares_sockets.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace dynamo::net {
namespace {
// Answers taken per recvmmsg(): the forwarder sends a handful of questions per socket
// (resolver/forwarder.h), so this holds every answer a wake-up normally finds.
constexpr unsigned kReadAhead = 16;
// c-ares reads UDP into MAXENDSSZ + 1 bytes (ares_process.c): as large, so that a datagram
// is cut exactly where c-ares' own recvfrom() would cut it.
constexpr size_t kDatagram = 4096 + 1;

// One thread drives every channel and c-ares reads one socket at a time to the end, so one
// batch serves them all. Pages the kernel never writes (most of each buffer) stay unmapped.
struct ReadAhead {
    ares_socket_t fd = ARES_SOCKET_BAD;
    unsigned count = 0;  // datagrams in the batch
    unsigned next = 0;   // the next one to hand out
    mmsghdr messages[kReadAhead];
    iovec iov[kReadAhead];
    sockaddr_storage from[kReadAhead];
    uint8_t buffers[kReadAhead][kDatagram];
};
ReadAhead readAhead;

void forget(ares_socket_t fd) {
    if (readAhead.fd == fd) {
        readAhead.fd = ARES_SOCKET_BAD;
        readAhead.count = readAhead.next = 0;
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
    static const bool ready = [] {
        for (unsigned i = 0; i < kReadAhead; ++i) {
            readAhead.iov[i] = {readAhead.buffers[i], kDatagram};
            msghdr& message = readAhead.messages[i].msg_hdr;
            message.msg_iov = &readAhead.iov[i];
            message.msg_iovlen = 1;
            message.msg_name = &readAhead.from[i];
        }
        return true;
    }();
    (void)ready;
    for (unsigned i = 0; i < kReadAhead; ++i)
        readAhead.messages[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    const int received = ::recvmmsg(fd, readAhead.messages, kReadAhead, MSG_DONTWAIT, nullptr);
    if (received <= 0) {
        forget(fd);
        return false;
    }
    readAhead.fd = fd;
    readAhead.count = static_cast<unsigned>(received);
    readAhead.next = 0;
    return true;
}

ares_ssize_t receive(ares_socket_t fd, void* data, size_t length, int flags, sockaddr* from,
                     ares_socklen_t* fromLength, void*) {
    if (from == nullptr || flags != 0)  // TCP (c-ares asks without an address), or unusual
        return ::recvfrom(fd, data, length, flags, from, fromLength);
    if (readAhead.fd != fd || readAhead.next == readAhead.count) {
        // A batch that was not full found the socket empty already: the kernel would say
        // EAGAIN now too (a datagram arriving meanwhile wakes the loop again).
        if (readAhead.fd == fd && readAhead.count < kReadAhead) {
            forget(fd);
            errno = EAGAIN;
            return -1;
        }
        if (!fill(fd))
            return -1;
    }
    const unsigned i = readAhead.next++;
    const msghdr& message = readAhead.messages[i].msg_hdr;
    const size_t size = std::min<size_t>(readAhead.messages[i].msg_len, length);
    std::memcpy(data, readAhead.buffers[i], size);
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
    return readAhead.fd == fd && readAhead.next < readAhead.count;
}

AresSockets::AresSockets(event_base* base)
    : flushEvent_(event_new(base, -1, 0, &AresSockets::onFlush, this)) {}

AresSockets::~AresSockets() {
    retired_.clear();
    for (const ares_socket_t fd : closing_)
        ::close(fd);
}

void AresSockets::retire(EventPtr event) {
    retired_.push_back(std::move(event));
    scheduleFlush();
}

void AresSockets::scheduleFlush() {
    if (!flushScheduled_) {
        flushScheduled_ = true;
        event_active(flushEvent_.get(), EV_TIMEOUT, 0);
    }
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
    scheduleFlush();
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
    if (queued_.size() == kReadAhead)
        flush();
    queued_.push_back({fd, bytes_.size(), length});
    for (int i = 0; i < count; ++i) {
        const auto* data = static_cast<const uint8_t*>(vector[i].iov_base);
        bytes_.insert(bytes_.end(), data, data + vector[i].iov_len);
    }
    scheduleFlush();
    return static_cast<ares_ssize_t>(length);
}

void AresSockets::onFlush(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<AresSockets*>(arg);
    self->flushScheduled_ = false;
    self->flush();
}

void AresSockets::flush() {
    mmsghdr messages[kReadAhead];
    iovec iov[kReadAhead];
    size_t first = 0;
    while (first < queued_.size()) {
        // The run of datagrams for one socket, in the order c-ares sent them.
        const ares_socket_t fd = queued_[first].fd;
        unsigned n = 0;
        while (first + n < queued_.size() && queued_[first + n].fd == fd && n < kReadAhead) {
            const Datagram& datagram = queued_[first + n];
            iov[n] = {bytes_.data() + datagram.offset, datagram.length};
            messages[n] = {};
            messages[n].msg_hdr.msg_iov = &iov[n];
            messages[n].msg_hdr.msg_iovlen = 1;
            ++n;
        }
        unsigned sent = 0;
        while (sent < n) {
            const int done = ::sendmmsg(fd, messages + sent, n - sent, MSG_DONTWAIT);
            // Refused (a full buffer, an ICMP error pending): that question is lost as on the
            // wire, and c-ares asks again at its timeout. The rest still get their chance.
            sent += done > 0 ? static_cast<unsigned>(done) : 1;
        }
        first += n;
    }
    queued_.clear();
    bytes_.clear();
    retired_.clear();
    for (const ares_socket_t fd : closing_)
        ::close(fd);
    closing_.clear();
}

}  // namespace dynamo::net
