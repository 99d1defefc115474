#pragma once
// The gateway's one HTTP(S) client: one request (GET or POST, header fields, a body) to one URL,
// bounded by one timeout, answered with the status and body or a classified failure. The
// token-API client (token_api_client.h), the alerts' webhook and ntfy POSTs
// (gateway/alerts/http_poster.h) and the public-address HTTP echo pages use it.
//
// One request, step by step (each step is bounded by the one timer of the request):
//   resolve the host through our own c-ares channel (dns.upstreams; never getaddrinfo, never
//   this daemon's interception) → connect to each address in turn until one accepts → for
//   https://, a TLS handshake (TLS >= 1.2, the chain verified against the system store plus
//   dynamo.ca_file, SNI, the host name or IP literal checked) → write the request → read one
//   bounded HTTP/1.1 response (HttpResponseReader). Nothing is written before the handshake
//   has verified the peer: the request may carry a secret (a token in the path, a header).
//
// A small HTTP/1.1 client of our own (one request, Connection: close) rather than libevent's
// evhttp client: http_client.cc says why, with what was tried.
//
// Never logs: the URL, the header values and the body may hold secrets. The caller logs what it
// may (HttpResult::detail names hosts and addresses only).
//
// One thread, one event_base, no locks. `done` always runs from its own deferred event, never
// inside request() and never inside a c-ares or bufferevent callback, so `done` may destroy the
// client; destroying the client cancels every request in flight without calling it back.

#include <event2/event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/updates/update_url.h"
#include "net/handles.h"
#include "net/socket_address.h"

struct ares_addrinfo;

namespace dynamo::net {
class AresChannel;
}

namespace dynamo::gateway {

struct HttpRequest {
    enum class Method { Get, Post };
    Method method = Method::Get;
    // http:// or https://, a host, an optional port, path and query (a fragment is not sent,
    // RFC 9110 §4.2.4); no user information.
    std::string url;
    // Extra header fields, sent as given after Host and User-Agent. Their values are never
    // logged (webhook tokens).
    std::vector<std::pair<std::string, std::string>> headers;
    // With a body (POST): its Content-Type; Content-Length is always set for a POST.
    std::string contentType;
    std::string body;
};

// How a request ended without an HTTP answer.
enum class HttpFailure {
    None,            // an HTTP answer came (any status)
    BadUrl,          // the URL does not parse
    DnsFailed,       // the host did not resolve (or to no usable address)
    ConnectRefused,  // every address refused the connection (nothing listens: a service down)
    ConnectFailed,   // unreachable, reset, or some addresses refused and others failed otherwise
    TlsFailed,       // the handshake, or verifying the certificate or host name, failed
    Timeout,         // no whole answer within the timeout
    BadResponse,     // what came back is not an HTTP/1.x response we can read
};
// "dns-failed", "connect-refused", "connect-failed", "tls-failed", "timeout", "bad-response",
// "bad-url"; "" for None.
std::string_view toString(HttpFailure failure);

struct HttpResult {
    HttpFailure failure = HttpFailure::None;
    int status = 0;             // with None: the status code
    std::string body;           // with None: at most HttpResponseReader::kMaxBodyBytes
    bool bodyTooLarge = false;  // the body was longer (status meaningful, body empty)
    // One line for the log: what went wrong, naming hosts and addresses, never the URL's path
    // or query, a header value or the body. Empty for an answer.
    std::string detail;

    bool answered() const { return failure == HttpFailure::None; }
};

class HttpClient {
  public:
    using Done = std::function<void(const HttpResult&)>;

    struct Options {
        // For create()'s errors: "resolver for <purpose>: ...".
        std::string purpose = "HTTP requests";
        // Speak TLS (https:// URLs fail with TlsFailed without it; its context is made by
        // create() when there is a caFile, else by the first https:// request) and make the
        // resolver (URLs naming a host fail with DnsFailed without it): a client for one fixed
        // URL makes only what that URL needs.
        bool tls = true;
        bool resolve = true;
        std::optional<std::string> caFile;           // trusted besides the system store
        std::vector<net::SocketAddress> dnsServers;  // empty: c-ares's own (resolv.conf)
        // Of the addresses a host name resolves to, connect to the IPv4 ones only (the token
        // API: without ?ip= the service publishes the address the call comes from, and an A
        // record needs an IPv4 one); an IP literal in the URL is used as written. Otherwise
        // both families, in the order RFC 6724 prefers.
        bool ipv4Only = false;
        std::chrono::seconds timeout{15};  // the whole request; at least 1 s
    };

    // nullptr with *error for an unreadable ca_file or a resolver c-ares refuses.
    static std::unique_ptr<HttpClient> create(event_base* base, Options options,
                                              std::string* error);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // `done` runs exactly once, from its own event (see above), unless the client is destroyed
    // first.
    void request(const HttpRequest& request, Done done);

    // Requests started and not yet called back.
    size_t inFlight() const { return exchanges_.size(); }
    std::chrono::seconds timeout() const { return options_.timeout; }

  private:
    struct Exchange;
    struct AresQuery;

    HttpClient(event_base* base, Options options);

    static void onTimeout(evutil_socket_t fd, short what, void* arg);
    static void onResolved(void* arg, int status, int timeouts, ares_addrinfo* result);
    static void onConnectable(evutil_socket_t fd, short what, void* arg);
    static void onRead(bufferevent* bev, void* arg);
    static void onEvent(bufferevent* bev, short what, void* arg);
    static void onFinish(evutil_socket_t fd, short what, void* arg);

    Exchange* findExchange(uint64_t id);
    void connectNext(Exchange& exchange);
    void startSession(Exchange& exchange, net::UniqueFd socket);
    void sendRequest(Exchange& exchange);
    void readResponse(Exchange& exchange);
    void onPeerClosed(Exchange& exchange, short what);
    // Ends the request's I/O now and schedules `done` with this result.
    void finish(Exchange& exchange, HttpResult result);
    void fail(Exchange& exchange, HttpFailure failure, std::string detail);

    event_base* base_;
    Options options_;
    net::SslCtxPtr sslCtx_;  // made by create() with a ca_file, else by the first https:// request
    std::unique_ptr<net::AresChannel> dns_;  // null without Options::resolve
    std::unordered_map<uint64_t, std::unique_ptr<Exchange>> exchanges_;
    uint64_t nextId_ = 1;
};

}  // namespace dynamo::gateway
