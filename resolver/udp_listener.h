#pragma once
// DNS over UDP on one address. On a wildcard bind the kernel tells us, per datagram, which
// local address it was sent to (IP_PKTINFO / IPV6_RECVPKTINFO); the reply leaves from that same
// address, or a multi-homed client would drop it, and `answer_ipv4: auto` answers with it.
//
// Batched: one recvmmsg() reads up to 32 datagrams, and the answers given while they are
// handled (interception, cache hits, errors) leave together through one sendmmsg(), each with
// its own destination and source address; answers that come later (forwarded) leave together
// at the end of the event loop's turn that brought them (net/end_of_turn.h).
//
// Owned through shared_ptr: a reply that arrives after the listener is gone (reload, shutdown)
// finds the weak_ptr empty and is dropped.

#include <event2/event.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "net/end_of_turn.h"
#include "net/handles.h"
#include "net/socket_address.h"
#include "resolver/query_handler.h"

namespace dynamo::resolver {

class UdpListener : public std::enable_shared_from_this<UdpListener> {
  public:
    // nullptr and *error set (naming the address) when the socket cannot be bound.
    static std::shared_ptr<UdpListener> create(event_base* base, const net::SocketAddress& address,
                                               QueryHandler& handler, std::string* error);
    const net::SocketAddress& address() const { return address_; }
    ~UdpListener();

  private:
    UdpListener(event_base* base, QueryHandler& handler, net::SocketAddress address);
    // Where one datagram's answer goes: sent at once, or kept (weakly) for a forwarded query.
    class Reply final : public ReplyTarget {
      public:
        Reply(UdpListener& listener, const net::SocketAddress& client, const net::IpAddress& local,
              int ifindex)
            : listener_(listener), client_(client), local_(local), ifindex_(ifindex) {}
        void operator()(std::span<const uint8_t> answer) const override;
        resolver::Reply keep() const override;

      private:
        UdpListener& listener_;
        const net::SocketAddress& client_;
        const net::IpAddress& local_;
        int ifindex_;
    };

    static void onReadable(evutil_socket_t fd, short what, void* arg);
    void readBatch();
    // `local` and `ifindex` (0: any) from the query's IP_PKTINFO / IPV6_PKTINFO. The answer
    // joins the outbox (queue), sent with the others by flush(): at the end of the batch, or
    // at the end of this turn of the event loop for answers from upstream.
    void send(std::span<const uint8_t> answer, const net::SocketAddress& client,
              const net::IpAddress& local, int ifindex);
    void queue(std::span<const uint8_t> answer, const net::SocketAddress& client,
               const net::IpAddress& local, int ifindex);
    void flush();
    // On a wildcard socket, the control message that makes the answer leave from `local`.
    void setSource(msghdr& message, uint8_t* control, const net::IpAddress& local,
                   int ifindex) const;

    QueryHandler& handler_;
    net::SocketAddress address_;
    net::UniqueFd fd_;
    net::EventPtr readEvent_;
    net::EndOfTurn endOfTurn_;  // sends what answers from upstream queued this turn
    bool wildcard_ = false;
    struct Outbox;
    std::unique_ptr<Outbox> outbox_;
    bool batching_ = false;  // inside readBatch(): answers go to the outbox
};

}  // namespace dynamo::resolver
