#include "net/datagrams.h"

namespace dynamo::net {

void sendAll(int fd, mmsghdr* messages, unsigned count) {
    unsigned sent = 0;
    while (sent < count) {
        const int done = ::sendmmsg(fd, messages + sent, count - sent, MSG_DONTWAIT);
        sent += done > 0 ? static_cast<unsigned>(done) : 1;
    }
}

}  // namespace dynamo::net
