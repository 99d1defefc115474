#pragma once
// The socket calls c-ares makes, done our way (ares_set_socket_functions, c-ares >= 1.13), to
// spend fewer system calls per forwarded question:
//
// - sockets are created non-blocking and close-on-exec by socket() itself: c-ares' own path
//   adds three fcntl() calls per socket, and the forwarder opens a socket every few questions
//   (resolver/forwarder.h: source ports);
// - an upstream's UDP answers are read by one recvmmsg() per wake-up: c-ares reads a readable
//   socket with recvfrom() until EAGAIN (ares_process.c: read_udp_packets), one call per
//   answer plus the one that finds the socket empty; here the first call takes everything
//   waiting and the following ones are served from that batch, the empty one included;
// - the questions c-ares sends on a UDP socket during one turn of the event loop (a batch of
//   client queries read together) leave together, by one sendmmsg() at the end of the turn,
//   which also wakes the upstream once rather than once per question. c-ares counts them sent
//   when it hands them over; one the kernel then refuses (a full buffer) is retried by c-ares
//   at its timeout, as a datagram lost on the way would be;
// - c-ares closes a channel's socket as soon as its last question is answered, inside the
//   answer's callback, before the answer itself leaves (at the end of the turn, batched): the
//   epoll_ctl() and close() wait for the end of the turn too, so the client does not wait for
//   them;
// - and the channel may keep that socket instead (keep()): open, connected, still watched, for
//   its next question, so that questions coming one after another, each answered before the
//   next is asked, share a socket as questions asked together do. Without it each such
//   question paid socket(), connect(), two epoll_ctl() and close(), more kernel time than the
//   question itself, and the first three before it could leave. A kept socket is closed when it
//   has been idle for the keep time, and at once when anything arrives on it while no question
//   is waiting (a late answer, or someone guessing the port): the channel's questionsPerPort
//   bound decides how many questions one port carries in all (resolver/forwarder.h).
//
// TCP sockets (c-ares asks for TCP when an answer is truncated) go straight to the kernel,
// with TCP_NODELAY set as c-ares sets it for its own sockets.

#include <ares.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "net/end_of_turn.h"
#include "net/handles.h"

namespace dynamo::net {

// One per c-ares channel: ares_set_socket_functions(channel, &aresSocketFunctions(), &sockets).
// Outlives the channel's sockets (destroy the channel first).
class AresSockets {
  public:
    // keepIdle: how long a kept socket waits for its next question (0: none is ever kept).
    explicit AresSockets(event_base* base, std::chrono::milliseconds keepIdle = {});
    ~AresSockets();
    AresSockets(const AresSockets&) = delete;
    AresSockets& operator=(const AresSockets&) = delete;

    // What the socket functions call, with this object as their user data. open() hands out
    // the kept socket again when there is one, and connect() then finds it connected already.
    ares_socket_t open(int domain, int type, int protocol);
    int connect(ares_socket_t fd, const sockaddr* address, socklen_t length);
    int close(ares_socket_t fd);
    ares_ssize_t send(ares_socket_t fd, const iovec* vector, int count);
    // The libevent event of a socket c-ares stopped watching: freed (epoll_ctl DEL) at the end
    // of the turn with the socket's close, after the answers that turn gave have left.
    void retire(EventPtr event);

    // c-ares stopped watching the UDP socket `fd` and is about to close() it: it stays open
    // instead, with its event (whose callback must send keptIdle() sockets to release()).
    // The event comes back when it cannot be kept (TCP, one kept already, no keep time).
    EventPtr keep(ares_socket_t fd, EventPtr event);
    // The event of the kept socket `fd` once open() has handed it to c-ares again; nullptr
    // for any other socket.
    EventPtr reclaim(ares_socket_t fd);
    bool holdsKept() const { return kept_.fd != ARES_SOCKET_BAD; }
    // Whether `fd` is the kept socket, waiting for a question.
    bool keptIdle(ares_socket_t fd) const {
        return fd != ARES_SOCKET_BAD && fd == kept_.fd && !kept_.handedOut;
    }
    // Closes the kept socket (at the end of the turn, like c-ares' own).
    void release();

  private:
    // At the end of the turn: the questions queued sent, then the sockets c-ares closed in it
    // closed and their events freed.
    void endTurn();
    void sendQueued();
    void closeAtEndOfTurn(ares_socket_t fd);
    static void onKeepTimer(evutil_socket_t, short, void* arg);
    struct Datagram {
        ares_socket_t fd;
        size_t offset;  // in bytes_
        size_t length;
    };
    struct UdpSocket {
        ares_socket_t fd;
        int domain;
        sockaddr_storage peer;  // connected to, for the kept socket's next connect()
        socklen_t peerLength;
    };
    UdpSocket* findUdp(ares_socket_t fd);
    std::vector<UdpSocket> udpSockets_;
    struct Kept {
        ares_socket_t fd = ARES_SOCKET_BAD;  // still in udpSockets_, with its domain
        bool handedOut = false;  // open() gave it to c-ares, which has not watched it yet
        EventPtr event;
        std::chrono::steady_clock::time_point since;
    } kept_;
    std::chrono::milliseconds keepIdle_;
    EventPtr keepTimer_;
    std::vector<ares_socket_t> closing_;  // closed by c-ares this turn, by us at its end
    std::vector<EventPtr> retired_;
    std::vector<Datagram> queued_;
    std::vector<uint8_t> bytes_;
    EndOfTurn endOfTurn_;
};

const ares_socket_functions& aresSocketFunctions();

// Whether answers read ahead for `fd` wait to be handed to c-ares: after ares_process_fd()
// has read `fd` they never should (c-ares reads until the socket is empty), but should c-ares
// stop early, the caller processes the socket again rather than leave them unread.
bool aresReadAheadPending(ares_socket_t fd);

}  // namespace dynamo::net
