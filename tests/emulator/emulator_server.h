#pragma once
// The HTTP(S) face of the token-API emulator: evhttp in front of a TokenService, plus the
// control API the integration tests drive. Threading: one thread, one event_base, no locks.
//
// Token API (docs/token-api.md#request):  GET|POST /<token>[?ip=A.B.C.D]   (or `ip=` in a form POST
// body)
//   -> HTTP 200 text/plain with one code, or the token's fault (token_service.h).
//
// Control API, loopback clients only (others get 403); answers are JSON or "ok":
//   POST /_control/token?token=T&mode=M[&address=A]  add a token or change its mode (and
//                                                    optionally its stored address)
//   GET  /_control/tokens                            {"T": {"mode", "address", "last_call"}}
//   GET  /_control/calls                             every call since start or reset, in order:
//        [{"time", "token", "method", "path", "ip", "source", "status", "code", "delay",
//          "user_agent", "tls"}]   ip = the `ip` parameter or null; code = the body answered
//        ("UP,OK", "hello", ...), "HTTP 500" or "DROP"; status = 0 for a dropped call
//   POST /_control/reset[?addresses=1]               forget calls and windows (and addresses)
//   POST /_control/clock?advance=SECONDS             move the emulator's clock forward (a
//                                                    negative value moves it back); -> {"offset"}
//
// Lifetimes: a slow answer holds its evhttp_request until its timer fires. If the client goes
// away first, libevent detaches the request from the dead connection instead of freeing it
// (evhttp_connection_incoming_fail), and evhttp_send_reply on a detached request frees it; so
// the timer may always answer. At shutdown a pending answer is handed back to libevent (which
// frees a detached request at once) and its connection is closed with evhttp: the client sees
// the connection close without an answer, as with `drop`.

#include <cstddef>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/handles.h"
#include "net/socket_address.h"
#include "tests/emulator/token_service.h"

namespace dynamo::emulator {

struct ServerOptions {
    net::SocketAddress listen;  // port 0: the kernel picks one
    std::string tlsCert;        // PEM chain; empty = plain HTTP
    std::string tlsKey;
    int timeoutSeconds = 30;  // per connection, reading a request and writing an answer
    size_t maxHeaderBytes = 8 * 1024;
    size_t maxBodyBytes = 8 * 1024;
};

struct CallRecord {
    double time = 0;
    std::string token;
    std::string method;
    std::string path;
    std::optional<std::string> ip;
    std::string source;
    int status = 0;
    std::string code;
    double delay = 0;
    std::string userAgent;
};

class EmulatorServer {
  public:
    EmulatorServer(event_base* base, TokenService& service);
    ~EmulatorServer();
    EmulatorServer(const EmulatorServer&) = delete;
    EmulatorServer& operator=(const EmulatorServer&) = delete;

    // Binds and starts serving; returns an error line, or "" on success.
    std::string start(const ServerOptions& options);
    const net::SocketAddress& boundAddress() const { return bound_; }

  private:
    struct PendingReply {
        EmulatorServer* server = nullptr;
        evhttp_request* request = nullptr;
        std::string body;
        net::EventPtr timer;
        std::list<PendingReply>::iterator self;
    };

    static void onRequest(evhttp_request* request, void* arg);
    static bufferevent* makeTlsBufferEvent(event_base* base, void* arg);
    static void onSlowTimer(evutil_socket_t fd, short events, void* arg);

    void handleApi(evhttp_request* request, const net::IpAddress& source,
                   const std::string& sourceText);
    void handleControl(evhttp_request* request, const std::string& path);
    void sendLater(evhttp_request* request, std::string body, double seconds);
    std::string callsJson() const;
    std::string tokensJson() const;
    double now() const;

    event_base* base_;
    TokenService& service_;
    net::SslCtxPtr sslCtx_;
    net::EvHttpPtr http_;
    net::SocketAddress bound_;
    std::list<PendingReply> pending_;
    std::vector<CallRecord> calls_;
    double clockOffset_ = 0;
};

}  // namespace dynamo::emulator
