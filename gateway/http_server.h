#pragma once
// The HTTP and HTTPS listeners of the update gateway (libevent evhttp; TLS through
// bufferevent_openssl). Requests from outside dns.allow get 403; header and body sizes and the
// request time are bounded; HTTP/1.0 and 1.1, Content-Length and Connection: close are
// evhttp's. A request becomes an HttpExchange handed to the router, which may answer later.
// One thread, one event_base, no locks.

#include <event2/http.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "compat/http_request.h"
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
// second is ignored, and an exchange dropped without one answers 500 from its destructor (as
// Bitcoin Core's HTTPRequest). When the client disconnects first, libevent frees the request:
// the exchange notices (connection close callback) and its reply goes nowhere.
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
    // tls may be null when httpsListen is empty.
    static std::unique_ptr<HttpServer> create(event_base* base,
                                              const std::vector<net::SocketAddress>& httpListen,
                                              const std::vector<net::SocketAddress>& httpsListen,
                                              SSL_CTX* tls, Router router, std::string* error);

    void setAllow(net::CidrSet allow) { allow_ = std::move(allow); }
    // SIGHUP: a new certificate (or TLS settings) for connections accepted from now on.
    void setTls(net::SslCtxPtr tls);

  private:
    HttpServer(event_base* base, Router router) : base_(base), router_(std::move(router)) {}
    bool bindAll(evhttp* http, const std::vector<net::SocketAddress>& addresses,
                 std::string* error);
    static void onRequest(evhttp_request* request, void* arg);
    static bufferevent* makeTlsBufferEvent(event_base* base, void* arg);
    void configure(evhttp* http);

    event_base* base_;
    Router router_;
    net::CidrSet allow_;
    net::SslCtxPtr tls_;
    net::EvHttpPtr http_;
    net::EvHttpPtr https_;
};

}  // namespace dynamo::gateway
