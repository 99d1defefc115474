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

ares_socket_t openSocket(int domain, int type, int protocol, void*) {
    const int fd = ::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return ARES_SOCKET_BAD;
    if (type == SOCK_STREAM) {
        // As c-ares does for its own TCP sockets: one question, one write, no Nagle delay.
        const int on = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    }
    return fd;
}

int closeSocket(ares_socket_t fd, void*) {
    forget(fd);
    return ::close(fd);
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

ares_ssize_t sendVector(ares_socket_t fd, const iovec* vector, int count, void*) {
    return ::writev(fd, vector, count);
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

}  // namespace dynamo::net
