#pragma once
// The listening sockets of both sides (DNS on 53, DynDNS on 80/443/8245) are made here, so a
// taken port is reported the same way everywhere: with the address and who probably holds it.

#include <string>

#include "net/handles.h"
#include "net/socket_address.h"

namespace dynamo::net {

// A non-blocking, close-on-exec socket of `type` (SOCK_DGRAM or SOCK_STREAM) bound to
// `address`; on failure an empty UniqueFd and *error naming the address, the reason and, for a
// taken or privileged port, what to do about it.
UniqueFd bindSocket(const SocketAddress& address, int type, std::string* error);

}  // namespace dynamo::net
