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
//   waiting and the following ones are served from that batch, the empty one included.
//
// TCP sockets (c-ares asks for TCP when an answer is truncated) go straight to the kernel,
// with TCP_NODELAY set as c-ares sets it for its own sockets.

#include <ares.h>

namespace dynamo::net {

// For every channel: ares_set_socket_functions(channel, &aresSocketFunctions(), nullptr).
const ares_socket_functions& aresSocketFunctions();

// Whether answers read ahead for `fd` wait to be handed to c-ares: after ares_process_fd()
// has read `fd` they never should (c-ares reads until the socket is empty), but should c-ares
// stop early, the caller processes the socket again rather than leave them unread.
bool aresReadAheadPending(ares_socket_t fd);

}  // namespace dynamo::net
