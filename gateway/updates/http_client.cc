// Why not libevent's own HTTP client, evhttp_connection_base_bufferevent_new() on a
// bufferevent_openssl made here with our SSL (SSL_VERIFY_PEER, SSL_set1_host(), SNI) and the
// numeric address from our own c-ares lookup? Tried with libevent 2.1.12 against the test
// servers of tests/unit/token_api_client_test.cc:
//   - TLS would work: a certificate for another name and a reset in the handshake both reach
//     the error callback as EVREQ_HTTP_EOF, but our SSL still tells them apart
//     (SSL_get_verify_result() 62 "hostname mismatch", against 0 with errno ECONNRESET).
//   - A refused connection never reaches the error callback: the request callback runs with
//     response code 0 and errno ENOTCONN, the socket already closed (its SO_ERROR gone), because
//     evhttp_connection_cb() tests a stale errno and evhttp_connection_cb_cleanup() calls back
//     without an error. Refused and unreachable (both measured) and a connect timeout (the same
//     cleanup path) look the same, so a ConnectFailed could not say why
//     (ARefusedConnectionIsConnectFailed expects "refused").
//   - evhttp_make_request() calls getaddrinfo() itself, synchronously, even for a numeric
//     address (bufferevent_socket_connect_hostname() without an evdns_base); given a name, that
//     is a blocking lookup on the loop. It connects to the first address only, so trying the
//     next one would take a connection per address and our own sequencing anyway.
//   - A body over evhttp_connection_set_max_body_size() ends in EVREQ_HTTP_DATA_TOO_LONG after
//     the request is freed: the status is lost (ABodyLargerThanTheLimitIsAnUnknownCode).
//   - Its timeouts are per read and per write, not per request; the one timer stays ours either
//     way.
// So a request keeps its own non-blocking connect and HttpResponseReader: what it sends is one
// request, what it needs back is one status line and a few bytes of body.

#include "gateway/updates/http_client.h"

#include <ares.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "gateway/updates/http_response_reader.h"
#include "net/ares_channel.h"
#include "net/error_text.h"
#include "net/timeval.h"
#include "version.h"

namespace dynamo::gateway {
namespace {

// The URL taken apart: UpdateUrl for the origin and path, then the query, kept for the
// request-target. A fragment is never sent (RFC 9110 §4.2.4).
struct Target {
    UpdateUrl url;
    std::string requestTarget;  // path [? query], "/" when the URL has no path
};

std::optional<Target> parseTarget(std::string_view text, std::string* error) {
    text = text.substr(0, text.find('#'));
    const size_t queryAt = text.find('?');
    const std::string_view query =
        queryAt == std::string_view::npos ? std::string_view() : text.substr(queryAt);
    for (const char c : query) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            *error = "the query must not contain spaces or control characters";
            return std::nullopt;
        }
    }
    const std::string_view base = text.substr(0, queryAt);
    auto url = UpdateUrl::parse(base, error);
    if (!url)
        return std::nullopt;
    std::string path(base.substr(std::min(url->origin.size(), base.size())));
    if (path.empty())
        path = "/";
    return Target{std::move(*url), path + std::string(query)};
}

// TLS >= 1.2, the peer verified against the system store plus `caFile`.
net::SslCtxPtr makeClientContext(const std::optional<std::string>& caFile, std::string* error) {
    net::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
        *error = "cannot create the TLS client context";
        return nullptr;
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    // A machine without a CA bundle still works with ca_file alone; the failure shows in the
    // first request's verification error.
    SSL_CTX_set_default_verify_paths(ctx.get());
    if (caFile) {
        ERR_clear_error();
        if (SSL_CTX_load_verify_locations(ctx.get(), caFile->c_str(), nullptr) != 1) {
            *error =
                "dynamo.ca_file " + *caFile + ": " + net::opensslErrorText(ERR_peek_last_error());
            ERR_clear_error();
            return nullptr;
        }
    }
    return ctx;
}

}  // namespace

std::string_view toString(HttpFailure failure) {
    switch (failure) {
        case HttpFailure::None:
            return "";
        case HttpFailure::BadUrl:
            return "bad-url";
        case HttpFailure::DnsFailed:
            return "dns-failed";
        case HttpFailure::ConnectRefused:
            return "connect-refused";
        case HttpFailure::ConnectFailed:
            return "connect-failed";
        case HttpFailure::TlsFailed:
            return "tls-failed";
        case HttpFailure::Timeout:
            return "timeout";
        case HttpFailure::BadResponse:
            return "bad-response";
    }
    return "";
}

// One request. Owned by exchanges_; every libevent handle below points back at it and dies with
// it, so no callback can outlive it. c-ares queries cannot be cancelled one by one: they carry
// an AresQuery (client, exchange id) instead and look the exchange up when they finish.
struct HttpClient::Exchange {
    enum class Phase { Resolving, Connecting, Handshaking, Exchanging, Finished };

    HttpClient* client = nullptr;
    uint64_t id = 0;
    Done done;
    UpdateUrl url;
    std::string request;  // the whole request, written once the connection is ready
    Phase phase = Phase::Resolving;

    std::vector<net::SocketAddress> addresses;
    size_t nextAddress = 0;
    net::SocketAddress current;
    std::string connectErrors;
    bool allRefused = true;  // every connect so far failed with ECONNREFUSED
    net::UniqueFd connecting;
    net::EventPtr connectEvent;

    net::BufferEventPtr bev;
    SSL* ssl = nullptr;  // owned by bev
    HttpResponseReader reader;

    net::EventPtr timer;
    net::EventPtr finishEvent;
    HttpResult result;

    void noteConnectError(int error) {
        allRefused = allRefused && error == ECONNREFUSED;
        if (!connectErrors.empty())
            connectErrors += "; ";
        connectErrors += current.toString() + ": " + net::errnoText(error);
    }
};

struct HttpClient::AresQuery {
    HttpClient* client;
    uint64_t exchangeId;
};

std::unique_ptr<HttpClient> HttpClient::create(event_base* base, Options options,
                                               std::string* error) {
    // A zero timeout (config allows "0") would fail every request before it starts.
    options.timeout = std::max(options.timeout, std::chrono::seconds(1));
    std::unique_ptr<HttpClient> self(new HttpClient(base, std::move(options)));
    const Options& opts = self->options_;

    // The context is made on the first https:// request: in OpenSSL 3, SSL_CTX_new() and
    // loading the system CA store fault in about 2 MiB of libcrypto, libssl and heap (measured
    // on Debian 12), which a gateway whose token API, alerts and echo pages are never called
    // over TLS should not carry. With a ca_file it is made now instead, so a file that is
    // readable (config checks that) but holds no certificate stops the start with its name.
    if (opts.tls && opts.caFile) {
        self->sslCtx_ = makeClientContext(opts.caFile, error);
        if (!self->sslCtx_)
            return nullptr;
    }
    if (opts.resolve) {
        net::AresChannel::Options aresOptions;
        aresOptions.servers = opts.dnsServers;
        std::string aresError;
        self->dns_ = net::AresChannel::create(base, aresOptions, &aresError);
        if (!self->dns_) {
            *error = "resolver for " + opts.purpose + ": " + aresError;
            return nullptr;
        }
    }
    return self;
}

HttpClient::HttpClient(event_base* base, Options options)
    : base_(base), options_(std::move(options)) {}

HttpClient::~HttpClient() {
    // ares_destroy() runs every pending onResolved with ARES_EDESTRUCTION, which touches
    // nothing; then the exchanges go, and with them every event and bufferevent. None calls
    // back.
    dns_.reset();
    exchanges_.clear();
}

HttpClient::Exchange* HttpClient::findExchange(uint64_t id) {
    const auto it = exchanges_.find(id);
    return it == exchanges_.end() ? nullptr : it->second.get();
}

void HttpClient::request(const HttpRequest& request, Done done) {
    auto owned = std::make_unique<Exchange>();
    Exchange& exchange = *owned;
    exchange.client = this;
    exchange.id = nextId_++;
    exchange.done = std::move(done);
    exchange.timer.reset(evtimer_new(base_, &HttpClient::onTimeout, &exchange));
    exchange.finishEvent.reset(evtimer_new(base_, &HttpClient::onFinish, &exchange));
    exchanges_.emplace(exchange.id, std::move(owned));

    std::string error;
    auto target = parseTarget(request.url, &error);
    if (!target) {
        fail(exchange, HttpFailure::BadUrl, "bad URL: " + error);
        return;
    }
    exchange.url = std::move(target->url);
    const bool post = request.method == HttpRequest::Method::Post;
    // RFC 9112 §3: request-line, Host (§3.2), a body framed by Content-Length (§6.2), one
    // request per connection.
    std::string& text = exchange.request;
    text = std::string(post ? "POST " : "GET ") + target->requestTarget + " HTTP/1.1\r\n";
    text += "Host: " + exchange.url.hostHeader + "\r\n";
    text += std::string("User-Agent: dynamo-gateway/") + kVersion + "\r\n";
    if (post || !request.body.empty()) {
        if (!request.contentType.empty())
            text += "Content-Type: " + request.contentType + "\r\n";
        text += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
    }
    for (const auto& [name, value] : request.headers)
        text += name + ": " + value + "\r\n";
    text += "Connection: close\r\n\r\n" + request.body;

    const timeval limit = net::toTimeval(options_.timeout);
    evtimer_add(exchange.timer.get(), &limit);
    if (exchange.url.literal) {
        exchange.addresses.emplace_back(*exchange.url.literal, exchange.url.port);
        exchange.phase = Exchange::Phase::Connecting;
        connectNext(exchange);
        return;
    }
    if (!dns_) {
        fail(exchange, HttpFailure::DnsFailed,
             exchange.url.host + ": this client resolves no names");
        return;
    }
    ares_addrinfo_hints hints{};
    hints.ai_family = options_.ipv4Only ? AF_INET : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    // Among IPv4 addresses alone RFC 6724 has nothing to sort: the order of the answer stands.
    hints.ai_flags = options_.ipv4Only ? ARES_AI_NOSORT : 0;
    // May call back before it returns; the exchange is already in exchanges_ and finish()
    // defers.
    ares_getaddrinfo(dns_->get(), exchange.url.host.c_str(), nullptr, &hints,
                     &HttpClient::onResolved, new AresQuery{this, exchange.id});
    dns_->afterCall();
}

void HttpClient::onResolved(void* arg, int status, int, ares_addrinfo* result) {
    std::unique_ptr<AresQuery> query(static_cast<AresQuery*>(arg));
    std::unique_ptr<ares_addrinfo, decltype(&ares_freeaddrinfo)> info(result, &ares_freeaddrinfo);
    if (status == ARES_EDESTRUCTION)
        return;  // the client is being destroyed: its requests are never called back
    HttpClient* self = query->client;
    Exchange* exchange = self->findExchange(query->exchangeId);
    if (exchange == nullptr || exchange->phase != Exchange::Phase::Resolving)
        return;  // timed out meanwhile
    if (status != ARES_SUCCESS) {
        self->fail(*exchange, HttpFailure::DnsFailed,
                   exchange->url.host + ": " + ares_strerror(status));
        return;
    }
    for (const ares_addrinfo_node* node = info ? info->nodes : nullptr; node != nullptr;
         node = node->ai_next) {
        if (self->options_.ipv4Only && node->ai_family != AF_INET)
            continue;
        if (auto address = net::SocketAddress::fromSockaddr(node->ai_addr, node->ai_addrlen))
            exchange->addresses.emplace_back(address->ip(), exchange->url.port);
    }
    if (exchange->addresses.empty()) {
        self->fail(
            *exchange, HttpFailure::DnsFailed,
            exchange->url.host + (self->options_.ipv4Only ? ": no IPv4 address" : ": no address"));
        return;
    }
    exchange->phase = Exchange::Phase::Connecting;
    self->connectNext(*exchange);
}

void HttpClient::connectNext(Exchange& exchange) {
    while (exchange.nextAddress < exchange.addresses.size()) {
        exchange.current = exchange.addresses[exchange.nextAddress++];
        net::UniqueFd socket(
            ::socket(exchange.current.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        int error = errno;
        if (socket) {
            if (::connect(socket.get(), exchange.current.sockaddr_ptr(),
                          exchange.current.length()) == 0) {
                startSession(exchange, std::move(socket));
                return;
            }
            error = errno;
            if (error == EINPROGRESS) {
                exchange.connecting = std::move(socket);
                exchange.connectEvent.reset(event_new(base_, exchange.connecting.get(), EV_WRITE,
                                                      &HttpClient::onConnectable, &exchange));
                event_add(exchange.connectEvent.get(), nullptr);
                return;
            }
        }
        exchange.noteConnectError(error);
    }
    fail(exchange, exchange.allRefused ? HttpFailure::ConnectRefused : HttpFailure::ConnectFailed,
         "connect to " + exchange.url.host + " (" + exchange.connectErrors + ")");
}

void HttpClient::onConnectable(evutil_socket_t fd, short, void* arg) {
    Exchange& exchange = *static_cast<Exchange*>(arg);
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
        error = errno;
    exchange.connectEvent.reset();  // non-persistent and already fired: freeing it here is safe
    if (error != 0) {
        exchange.connecting.reset();
        exchange.noteConnectError(error);
        exchange.client->connectNext(exchange);
        return;
    }
    exchange.client->startSession(exchange, std::move(exchange.connecting));
}

void HttpClient::startSession(Exchange& exchange, net::UniqueFd socket) {
    if (!exchange.url.tls) {
        exchange.bev.reset(bufferevent_socket_new(base_, socket.get(), BEV_OPT_CLOSE_ON_FREE));
        if (!exchange.bev) {
            fail(exchange, HttpFailure::ConnectFailed, "cannot create a bufferevent");
            return;
        }
        socket.release();
        bufferevent_setcb(exchange.bev.get(), &HttpClient::onRead, nullptr, &HttpClient::onEvent,
                          &exchange);
        bufferevent_enable(exchange.bev.get(), EV_READ | EV_WRITE);
        sendRequest(exchange);
        return;
    }
    if (!options_.tls) {
        fail(exchange, HttpFailure::TlsFailed, "this client speaks no TLS");
        return;
    }
    if (!sslCtx_) {
        std::string error;
        sslCtx_ = makeClientContext(options_.caFile, &error);
        if (!sslCtx_) {
            fail(exchange, HttpFailure::TlsFailed, error);
            return;
        }
    }
    net::SslPtr ssl(SSL_new(sslCtx_.get()));
    bool ok = ssl != nullptr;
    const UpdateUrl& url = exchange.url;
    if (ok && url.literal) {
        // RFC 6066 §3: no SNI for an address; the certificate must carry it as an IP SAN.
        ok = X509_VERIFY_PARAM_set1_ip(SSL_get0_param(ssl.get()), url.literal->bytes(),
                                       url.literal->size()) == 1;
    } else if (ok) {
        // SSL_set_tlsext_host_name() is a macro with a C cast; this is what it expands to.
        ok = SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                      const_cast<char*>(url.host.c_str())) == 1 &&
             SSL_set1_host(ssl.get(), url.host.c_str()) == 1;
        SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    if (!ok) {
        fail(exchange, HttpFailure::TlsFailed, "cannot set up the TLS session");
        return;
    }
    exchange.ssl = ssl.get();
    // With BEV_OPT_CLOSE_ON_FREE the bufferevent owns the SSL and the socket from here on; on
    // failure libevent versions disagree on who frees them, so a (never seen) leak beats a
    // double free.
    exchange.bev.reset(bufferevent_openssl_socket_new(
        base_, socket.release(), ssl.release(), BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE));
    if (!exchange.bev) {
        exchange.ssl = nullptr;
        fail(exchange, HttpFailure::TlsFailed, "cannot create the TLS bufferevent");
        return;
    }
    // Many HTTPS servers close without close_notify. A body cut short by an attacker is caught
    // by Content-Length or chunked framing; a read-until-close body would only ever lose its
    // end, which no longer parses as what the caller expects.
    bufferevent_openssl_set_allow_dirty_shutdown(exchange.bev.get(), 1);
    exchange.phase = Exchange::Phase::Handshaking;
    bufferevent_setcb(exchange.bev.get(), &HttpClient::onRead, nullptr, &HttpClient::onEvent,
                      &exchange);
    bufferevent_enable(exchange.bev.get(), EV_READ | EV_WRITE);
}

void HttpClient::sendRequest(Exchange& exchange) {
    exchange.phase = Exchange::Phase::Exchanging;
    bufferevent_write(exchange.bev.get(), exchange.request.data(), exchange.request.size());
}

void HttpClient::onRead(bufferevent*, void* arg) {
    Exchange& exchange = *static_cast<Exchange*>(arg);
    exchange.client->readResponse(exchange);
}

void HttpClient::readResponse(Exchange& exchange) {
    evbuffer* input = bufferevent_get_input(exchange.bev.get());
    char buffer[4096];
    while (exchange.reader.state() == HttpResponseReader::State::Incomplete) {
        const int n = evbuffer_remove(input, buffer, sizeof buffer);
        if (n <= 0)
            return;
        exchange.reader.feed(std::string_view(buffer, static_cast<size_t>(n)));
    }
    if (exchange.reader.state() == HttpResponseReader::State::Error) {
        fail(
            exchange, HttpFailure::BadResponse,
            "bad HTTP answer from " + exchange.current.toString() + ": " + exchange.reader.error());
        return;
    }
    HttpResult result;
    result.status = exchange.reader.status();
    result.bodyTooLarge = exchange.reader.bodyTooLarge();
    result.body = exchange.reader.body();
    finish(exchange, std::move(result));
}

void HttpClient::onEvent(bufferevent*, short what, void* arg) {
    Exchange& exchange = *static_cast<Exchange*>(arg);
    if (what & BEV_EVENT_CONNECTED) {
        // The handshake is done and OpenSSL verified chain and host name (SSL_VERIFY_PEER and
        // SSL_set1_host fail the handshake otherwise): only now may the request (a token in its
        // path, a secret in a header) leave.
        exchange.client->sendRequest(exchange);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        exchange.client->onPeerClosed(exchange, what);
}

void HttpClient::onPeerClosed(Exchange& exchange, short what) {
    const int savedErrno = EVUTIL_SOCKET_ERROR();
    if (exchange.phase == Exchange::Phase::Handshaking) {
        const long verify = SSL_get_verify_result(exchange.ssl);
        unsigned long sslError = 0;
        for (unsigned long e; (e = bufferevent_get_openssl_error(exchange.bev.get())) != 0;)
            sslError = sslError == 0 ? e : sslError;
        std::string detail;
        if (verify != X509_V_OK) {
            detail = "certificate of " + exchange.url.host + " (" + exchange.current.toString() +
                     ") not trusted: " + X509_verify_cert_error_string(verify);
        } else if (sslError != 0) {
            detail = "TLS handshake with " + exchange.current.toString() + ": " +
                     net::opensslErrorText(sslError);
        } else {
            detail = "TLS handshake with " + exchange.current.toString() + ": connection " +
                     ((what & BEV_EVENT_EOF) || savedErrno == 0 ? std::string("closed")
                                                                : net::errnoText(savedErrno));
        }
        fail(exchange, HttpFailure::TlsFailed, std::move(detail));
        return;
    }
    // Whatever arrived with the close is part of the answer.
    readResponse(exchange);
    if (exchange.phase == Exchange::Phase::Finished)
        return;
    if (what & BEV_EVENT_EOF) {
        exchange.reader.finishAtEof();
        readResponse(exchange);  // completes or reports the reader's error
        return;
    }
    const unsigned long sslError =
        exchange.ssl ? bufferevent_get_openssl_error(exchange.bev.get()) : 0;
    if (sslError != 0) {
        fail(exchange, HttpFailure::TlsFailed,
             "TLS error from " + exchange.current.toString() + ": " +
                 net::opensslErrorText(sslError));
        return;
    }
    fail(exchange, HttpFailure::ConnectFailed,
         "connection to " + exchange.current.toString() + ": " +
             (savedErrno == 0 ? std::string("closed") : net::errnoText(savedErrno)));
}

void HttpClient::onTimeout(evutil_socket_t, short, void* arg) {
    Exchange& exchange = *static_cast<Exchange*>(arg);
    std::string stage;
    switch (exchange.phase) {
        case Exchange::Phase::Resolving:
            stage = "resolving " + exchange.url.host;
            break;
        case Exchange::Phase::Connecting:
            stage = "connecting to " + exchange.current.toString();
            break;
        case Exchange::Phase::Handshaking:
            stage = "in the TLS handshake with " + exchange.current.toString();
            break;
        case Exchange::Phase::Exchanging:
        case Exchange::Phase::Finished:
            stage = "waiting for the answer from " + exchange.current.toString();
            break;
    }
    exchange.client->fail(exchange, HttpFailure::Timeout,
                          "no answer within " +
                              std::to_string(exchange.client->options_.timeout.count()) + "s (" +
                              stage + ")");
}

void HttpClient::fail(Exchange& exchange, HttpFailure failure, std::string detail) {
    HttpResult result;
    result.failure = failure;
    result.detail = std::move(detail);
    finish(exchange, std::move(result));
}

void HttpClient::finish(Exchange& exchange, HttpResult result) {
    if (exchange.phase == Exchange::Phase::Finished)
        return;
    exchange.phase = Exchange::Phase::Finished;
    exchange.result = std::move(result);
    // Freeing a bufferevent or event from inside its own callback is safe in libevent (the
    // bufferevent is reference-counted while its callback runs).
    exchange.bev.reset();
    exchange.ssl = nullptr;
    exchange.connectEvent.reset();
    exchange.connecting.reset();
    exchange.timer.reset();
    // `done` runs from its own event: never inside request(), a c-ares callback (the client
    // could not be destroyed there) or a bufferevent callback.
    event_active(exchange.finishEvent.get(), EV_TIMEOUT, 0);
}

void HttpClient::onFinish(evutil_socket_t, short, void* arg) {
    Exchange& exchange = *static_cast<Exchange*>(arg);
    HttpClient* self = exchange.client;
    Done done = std::move(exchange.done);
    const HttpResult result = std::move(exchange.result);
    self->exchanges_.erase(exchange.id);  // frees this event too: it is not touched after this
    if (done)
        done(result);  // may destroy the client: nothing of it is used after this
}

}  // namespace dynamo::gateway
