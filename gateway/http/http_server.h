#pragma once
// The HTTP and HTTPS listeners of the update gateway (libevent evhttp; TLS through
// bufferevent_openssl). Requests from outside dns.allow get 403; header and body sizes and the
// request time are bounded, and so are connections (HttpConnectionGuard: in all, per client
// address, and a deadline for each request); HTTP/1.0 and 1.1, Content-Length and
// Connection: close are evhttp's, two different Content-Length values get 400 (the guard). A
// request becomes an HttpExchange handed to the router, which may answer later. One thread, one
// event_base, no locks.

#include <event2/http.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compat/http_request.h"
#include "gateway/http/connection_guard.h"
#include "gateway/http/tls_server.h"
#include "gateway/http/update_observer.h"
#include "net/accept_backoff.h"
#include "net/cidr.h"
#include "net/handles.h"
#include "net/socket_address.h"

namespace dynamo::gateway {

struct HttpResponse {
    int status = 200;
    std::string contentType = "text/plain";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

// One request in flight. Exactly one reply reaches the client: the first reply() call; a
// second is ignored, and an exchange dropped without one answers 911 from its destructor (as
// Bitcoin Core's HTTPRequest answers 500).
//
// How a request can end, in libevent 2.1.12 (http.c), and who frees the evhttp_request:
//  - answered: evhttp_send_reply() hands it back to libevent, which frees it once written.
//  - client gone before the answer (a slow token API): while a request waits for its answer
//    the connection is in EVCON_WRITING with reading off, so libevent notices only when the
//    answer is written, and then frees connection and request itself. Should it see EOF or
//    the idle timeout before that (evhttp_connection_incoming_fail, EVREQ_HTTP_EOF/TIMEOUT, the
//    request not answered yet), it detaches the request (req->evcon = NULL, removed from the
//    connection's list, NOT freed) and evhttp_connection_free() runs our close callback. Only
//    evhttp_send*() frees a detached request (evcon == NULL → evhttp_request_free), and the
//    exchange will not answer it, so the close callback frees it.
//  - shutdown (evhttp_free → evhttp_connection_free) with the request pending: the close
//    callback runs first, then libevent frees the requests still on the connection's list.
//    The request is still attached there, so the callback only forgets it.
// After the close callback request_ is nullptr and nothing touches the request again.
class HttpExchange {
  public:
    HttpExchange(evhttp_request* request, compat::HttpRequest parsed);
    ~HttpExchange();
    HttpExchange(const HttpExchange&) = delete;
    HttpExchange& operator=(const HttpExchange&) = delete;

    const compat::HttpRequest& request() const { return parsed_; }
    void reply(const HttpResponse& response);
    bool replied() const { return request_ == nullptr; }

  private:
    static void onConnectionClosed(evhttp_connection* connection, void* arg);

    evhttp_request* request_;  // libevent's; nullptr once answered or the client is gone
    compat::HttpRequest parsed_;
};

class HttpServer {
  public:
    using Router = std::function<void(std::shared_ptr<HttpExchange>)>;

    static constexpr size_t kMaxHeadersSize = 8 * 1024;
    static constexpr size_t kMaxBodySize = 8 * 1024;
    static constexpr int kRequestTimeoutSeconds = 20;

    // Binds every address; nullptr and *error (naming the address) when one cannot be bound.
    // tls (checked by checkServerIdentity()) may be null when httpsListen is empty; its TLS
    // context is made when the first connection to an https listener is accepted.
    static std::unique_ptr<HttpServer> create(event_base* base,
                                              const std::vector<net::SocketAddress>& httpListen,
                                              const std::vector<net::SocketAddress>& httpsListen,
                                              const ServerIdentity* tls, Router router,
                                              std::string* error,
                                              HttpConnectionGuard::Limits limits = {});

    void setAllow(net::CidrSet allow) { allow_ = std::move(allow); }
    // How often a listener was paused because accept() ran out of descriptors.
    uint64_t acceptPauses() const;
    const HttpConnectionGuard& connections() const { return guard_; }
    // SIGHUP: a new certificate (or TLS settings) for connections accepted from now on. The
    // context made of the previous one is dropped (connections using it keep their reference)
    // and the next one is made when the next TLS connection is accepted.
    void setTls(const ServerIdentity& tls);
    // Whether the TLS context has been made (by a first TLS connection since start or reload).
    bool tlsContextMade() const { return tls_ != nullptr; }
    // Told of every TLS handshake that ends in a fatal alert; nullptr for none. The observer
    // outlives the server or is reset first.
    void setObserver(UpdateObserver* observer) { observer_ = observer; }

  private:
    HttpServer(event_base* base, Router router, HttpConnectionGuard::Limits limits)
        : base_(base), router_(std::move(router)), guard_(base, limits) {}
    bool bindAll(evhttp* http, const std::vector<net::SocketAddress>& addresses,
                 std::string* error);
    static void onRequest(evhttp_request* request, void* arg);
    static bufferevent* makePlainBufferEvent(event_base* base, void* arg);
    static bufferevent* makeTlsBufferEvent(event_base* base, void* arg);
    SSL_CTX* tlsContext();
    static void onTlsInfo(const SSL* ssl, int where, int value);
    void configure(evhttp* http);

    event_base* base_;
    Router router_;
    // Before the evhttps: destroyed after them, it drops its references last.
    HttpConnectionGuard guard_;
    net::CidrSet allow_;
    UpdateObserver* observer_ = nullptr;
    std::optional<ServerIdentity> identity_;  // what tls_ is made from
    net::SslCtxPtr tls_;                      // made by the first TLS connection
    bool tlsFailureLogged_ = false;
    net::EvHttpPtr http_;
    net::EvHttpPtr https_;
    // One per bound socket, beside evhttp's listener (which evhttp owns and frees). evhttp 2.1's
    // listener has no error callback (and evhttp no connection cap: guard_ adds one): without
    // this, accept() failing
    // with EMFILE leaves the listener armed and the loop spins at 100% CPU. Declared after the
    // evhttps so they go first (they never touch the listener when destroyed anyway).
    std::vector<std::unique_ptr<net::AcceptBackoff>> backoffs_;
};

}  // namespace dynamo::gateway
