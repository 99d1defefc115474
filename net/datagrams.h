#pragma once
// Batched UDP: what one recvmmsg() fills and one sendmmsg() loop sends. The UDP listener reads
// client queries with it and the c-ares socket functions read upstream answers with it
// (resolver/udp_listener.h, net/ares_sockets.h).

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace dynamo::net {

// N datagrams of up to Size bytes each, with their senders and, when Control > 0, room for
// their control messages (IP_PKTINFO). Meant to be a static object: one thread handles a batch
// before it reads the next, so every socket of a kind can share one, and pages the kernel never
// writes (most of each buffer) never become resident.
template <unsigned N, size_t Size, size_t Control = 0>
struct ReceiveBatch {
    static constexpr unsigned kCapacity = N;
    mmsghdr messages[N];
    iovec iov[N];
    sockaddr_storage from[N];
    alignas(cmsghdr) uint8_t control[N][Control > 0 ? Control : 1];
    uint8_t buffers[N][Size];

    // One recvmmsg() into the batch (flags as recvmmsg's): the number of datagrams, or what
    // recvmmsg() returned (errno set) when it read none.
    int receive(int fd, int flags) {
        if (!pointed_) {
            for (unsigned i = 0; i < N; ++i) {
                iov[i] = {buffers[i], Size};
                msghdr& message = messages[i].msg_hdr;
                message.msg_iov = &iov[i];
                message.msg_iovlen = 1;
                message.msg_name = &from[i];
                message.msg_control = Control > 0 ? control[i] : nullptr;
            }
            pointed_ = true;
            filled_ = N;
        }
        // The kernel rewrites only the lengths of the messages it fills.
        for (unsigned i = 0; i < filled_; ++i) {
            msghdr& message = messages[i].msg_hdr;
            message.msg_namelen = sizeof(sockaddr_storage);
            message.msg_controllen = Control;
            message.msg_flags = 0;
        }
        const int received = ::recvmmsg(fd, messages, N, flags, nullptr);
        filled_ = received > 0 ? static_cast<unsigned>(received) : 0;
        return received;
    }

    std::span<const uint8_t> datagram(unsigned i) const {
        return {buffers[i], messages[i].msg_len};
    }
    // Datagrams the last receive() filled (0 after a failed one).
    unsigned count() const { return filled_; }

  private:
    bool pointed_ = false;
    unsigned filled_ = 0;
};

// Sends messages[0, count) with as few sendmmsg() calls as the kernel allows. One it refuses
// (a full socket buffer, an ICMP error pending) is dropped, as it would be on the wire, and
// its sender retries as after loss; the rest still get their chance.
void sendAll(int fd, mmsghdr* messages, unsigned count);

}  // namespace dynamo::net
