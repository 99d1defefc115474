// dns-floor: the least a UDP DNS responder can do on this machine, for bench/bench.py's "floor"
// column. It is not a DNS server: every query gets its own question back with one fixed A
// answer, read with recvmmsg and answered with sendmmsg in batches, on one thread. What a real
// server spends per query beyond this figure is its own work (parsing, lookups, forwarding).
//
//   dns-floor PORT [ADDRESS]     listens on ADDRESS (127.0.0.1) port PORT until SIGTERM/SIGINT
//
// Standalone on purpose (only libc): nothing of the gateway is measured here.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr unsigned kBatch = 64;       // datagrams per recvmmsg / sendmmsg
constexpr size_t kMaxQuery = 512;     // RFC 1035 §4.2.1: a plain UDP query fits in 512 bytes
constexpr size_t kAnswerLength = 16;  // pointer (2), type, class (4), TTL (4), rdlength (2), A (4)
constexpr size_t kHeaderLength = 12;  // RFC 1035 §4.1.1

volatile std::sig_atomic_t stopping = 0;

void onSignal(int) {
    stopping = 1;
}

class Socket {
  public:
    explicit Socket(int fd) : fd_(fd) {}
    ~Socket() {
        if (fd_ >= 0)
            close(fd_);
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

// The end of the question section (RFC 1035 §4.1.2: QNAME as labels, QTYPE, QCLASS), or 0 when
// the datagram is no single-question query we can echo.
size_t questionEnd(const uint8_t* query, size_t length) {
    if (length < kHeaderLength || (query[2] & 0x80) != 0 || query[4] != 0 || query[5] != 1)
        return 0;
    size_t pos = kHeaderLength;
    while (pos < length) {
        const uint8_t label = query[pos];
        if (label == 0)
            return pos + 5 <= length ? pos + 5 : 0;
        if ((label & 0xC0) != 0)  // a compression pointer has no place in a question
            return 0;
        pos += 1U + label;
    }
    return 0;
}

// Turns the query in place into the answer; its new length, or 0 to send nothing.
size_t answer(uint8_t* message, size_t length) {
    const size_t end = questionEnd(message, length);
    if (end == 0)  // the buffer has kAnswerLength bytes of room past any query
        return 0;
    message[2] = static_cast<uint8_t>(0x80 | (message[2] & 0x79));  // QR, keep opcode and RD
    message[3] = 0x80;                                              // RA, RCODE NOERROR
    message[6] = 0;                                                 // ANCOUNT 1
    message[7] = 1;
    std::memset(message + 8, 0, 4);  // no authority, no additional (an OPT is dropped)
    static constexpr std::array<uint8_t, kAnswerLength> kAnswer = {
        0xC0, 0x0C,              // the question's name (RFC 1035 §4.1.4)
        0x00, 0x01,              // A
        0x00, 0x01,              // IN
        0x00, 0x00, 0x0E, 0x10,  // TTL 3600
        0x00, 0x04,              // RDLENGTH
        192,  0,    2,    1};
    std::memcpy(message + end, kAnswer.data(), kAnswer.size());
    return end + kAnswer.size();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: %s PORT [ADDRESS]\n", argv[0]);
        return 2;
    }
    const long port = std::strtol(argv[1], nullptr, 10);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    if (port <= 0 || port > 65535 ||
        inet_pton(AF_INET, argc == 3 ? argv[2] : "127.0.0.1", &address.sin_addr) != 1) {
        std::fprintf(stderr, "dns-floor: bad port or address\n");
        return 2;
    }

    // No SA_RESTART: a signal interrupts the blocking recvmmsg, so SIGTERM ends the loop.
    struct sigaction action {};
    action.sa_handler = onSignal;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);

    const Socket sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (sock.get() < 0 ||
        bind(sock.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        std::perror("dns-floor: socket/bind");
        return 1;
    }
    // A signal landing between the check of `stopping` and the blocking recvmmsg would be
    // missed until the next datagram: wake up once a second to look again.
    const timeval wake{1, 0};
    setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &wake, sizeof wake);

    static std::array<std::array<uint8_t, kMaxQuery + kAnswerLength>, kBatch> buffers;
    std::array<sockaddr_in, kBatch> peers{};
    std::array<iovec, kBatch> iovs{};
    std::array<mmsghdr, kBatch> messages{};
    while (stopping == 0) {
        for (unsigned i = 0; i < kBatch; ++i) {
            iovs[i] = {buffers[i].data(), kMaxQuery};
            messages[i].msg_hdr = {};
            messages[i].msg_hdr.msg_name = &peers[i];
            messages[i].msg_hdr.msg_namelen = sizeof peers[i];
            messages[i].msg_hdr.msg_iov = &iovs[i];
            messages[i].msg_hdr.msg_iovlen = 1;
        }
        const int received = recvmmsg(sock.get(), messages.data(), kBatch, MSG_WAITFORONE, nullptr);
        if (received < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            std::perror("dns-floor: recvmmsg");
            return 1;
        }
        // Compact the answers to the front of the array, each with its own peer address.
        unsigned answers = 0;
        for (unsigned i = 0; i < static_cast<unsigned>(received); ++i) {
            const size_t length = answer(buffers[i].data(), messages[i].msg_len);
            if (length == 0)
                continue;
            iovs[i].iov_len = length;
            if (answers != i)
                messages[answers].msg_hdr = messages[i].msg_hdr;
            ++answers;
        }
        unsigned sent = 0;
        while (sent < answers) {
            const int n = sendmmsg(sock.get(), messages.data() + sent, answers - sent, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                break;  // e.g. a full send buffer: the rest of the batch is dropped, like a server
            }
            sent += static_cast<unsigned>(n);
        }
    }
    return 0;
}
