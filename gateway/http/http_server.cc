#include "gateway/http/http_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "net/bind_socket.h"
#include "net/log.h"

namespace dynamo::gateway {
namespace {

const char* reasonPhrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        default:
            return "";
    }
}

compat::HttpRequest toCompat(evhttp_request* request) {
    compat::HttpRequest parsed;
    switch (evhttp_request_get_command(request)) {
        case EVHTTP_REQ_GET:
            parsed.method = "GET";
            break;
        case EVHTTP_REQ_POST:
            parsed.method = "POST";
            break;
        case EVHTTP_REQ_HEAD:
            parsed.method = "HEAD";
            break;
        default:
            parsed.method = "OTHER";
            break;
    }
    const char* uri = evhttp_request_get_uri(request);
    std::string target = uri != nullptr ? uri : "";
    const size_t fragment = target.find('#');
    if (fragment != std::string::npos)
        target.resize(fragment);
    const size_t question = target.find('?');
    parsed.path = target.substr(0, question);
    if (question != std::string::npos)
        parsed.query = target.substr(question + 1);

    evkeyvalq* headers = evhttp_request_get_input_headers(request);
    if (const char* value = evhttp_find_header(headers, "Authorization")) {
        parsed.authorization = value;
    }
    if (const char* value = evhttp_find_header(headers, "Content-Type")) {
        parsed.contentType = value;
    }
    if (const char* value = evhttp_find_header(headers, "User-Agent")) {
        parsed.userAgent = value;  // for the device list, which bounds it
    }
    if (const char* value = evhttp_find_header(headers, "Cookie")) {
        parsed.cookie = value;  // the /setup session; bounded by the header limit
    }
    evbuffer* body = evhttp_request_get_input_buffer(request);
    const size_t length = evbuffer_get_length(body);
    parsed.body.resize(length);
    evbuffer_copyout(body, parsed.body.data(), length);

    // The peer as a sockaddr, not evhttp_connection_get_peer()'s text: a link-local IPv6 client
    // is "fe80::1%eth0" there, which no address parser takes, and it would get 403.
    evhttp_connection* connection = evhttp_request_get_connection(request);
    const sockaddr* peer = connection != nullptr ? evhttp_connection_get_addr(connection) : nullptr;
    if (peer != nullptr) {
        const socklen_t peerLength =
            peer->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
        if (auto address = net::SocketAddress::fromSockaddr(peer, peerLength))
            parsed.client = address->ip().unmapped();
    }
    if (connection != nullptr) {
        const evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(connection));
        sockaddr_storage local{};
        socklen_t localLength = sizeof local;
        if (fd >= 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &localLength) == 0) {
            if (auto address = net::SocketAddress::fromSockaddr(
                    reinterpret_cast<const sockaddr*>(&local), localLength))
                parsed.local = address->ip().unmapped();
        }
    }
    return parsed;
}

// Where an SSL finds its HttpServer (SSL_set_ex_data), for the info callback.
int serverIndex() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

}  // namespace

HttpExchange::HttpExchange(evhttp_request* request, compat::HttpRequest parsed)
    : request_(request), parsed_(std::move(parsed)) {
    evhttp_connection_set_closecb(evhttp_request_get_connection(request_),
                                  &HttpExchange::onConnectionClosed, this);
}

HttpExchange::~HttpExchange() {
    if (request_ != nullptr) {
        DLOG(Error) << "http: request " << log::printable(parsed_.path)
                    << " ended without an answer";
        // A device's answer, as docs/updates.md#replies gives every dyndns reply but the challenge:
        // HTTP 200, and 911 ("try later") in the body that clients match.
        reply({200, "text/plain", "911", {}});
    }
}

void HttpExchange::onConnectionClosed(evhttp_connection*, void* arg) {
    auto* self = static_cast<HttpExchange*>(arg);
    evhttp_request* request = std::exchange(self->request_, nullptr);
    if (request == nullptr)
        return;
    // Detached by evhttp_connection_incoming_fail() (client gone, timeout): libevent will not
    // free it, and we will not answer it. Still on the connection's list (shutdown):
    // evhttp_connection_free() frees it right after this callback. See the header.
    if (evhttp_request_get_connection(request) == nullptr)
        evhttp_request_free(request);
}

void HttpExchange::reply(const HttpResponse& response) {
    if (request_ == nullptr)
        return;
    evhttp_request* request = std::exchange(request_, nullptr);
    evhttp_connection_set_closecb(evhttp_request_get_connection(request), nullptr, nullptr);
    evkeyvalq* headers = evhttp_request_get_output_headers(request);
    evhttp_add_header(headers, "Content-Type", response.contentType.c_str());
    evhttp_add_header(headers, "Cache-Control", "no-store");
    for (const auto& [name, value] : response.headers) {
        evhttp_add_header(headers, name.c_str(), value.c_str());
    }
    net::Handle<evbuffer, evbuffer_free> body(evbuffer_new());
    evbuffer_add(body.get(), response.body.data(), response.body.size());
    evhttp_send_reply(request, response.status, reasonPhrase(response.status), body.get());
}

std::unique_ptr<HttpServer> HttpServer::create(event_base* base,
                                               const std::vector<net::SocketAddress>& httpListen,
                                               const std::vector<net::SocketAddress>& httpsListen,
                                               const ServerIdentity* tls, Router router,
                                               std::string* error,
                                               HttpConnectionGuard::Limits limits) {
    limits.maxHeadBytes = kMaxHeadersSize;
    std::unique_ptr<HttpServer> server(new HttpServer(base, std::move(router), limits));
    server->http_.reset(evhttp_new(base));
    server->configure(server->http_.get());
    evhttp_set_bevcb(server->http_.get(), &HttpServer::makePlainBufferEvent, server.get());
    if (!server->bindAll(server->http_.get(), httpListen, error))
        return nullptr;

    if (!httpsListen.empty()) {
        if (tls == nullptr) {
            *error = "https_listen is set but no TLS certificate was loaded";
            return nullptr;
        }
        server->setTls(*tls);
        server->https_.reset(evhttp_new(base));
        server->configure(server->https_.get());
        evhttp_set_bevcb(server->https_.get(), &HttpServer::makeTlsBufferEvent, server.get());
        if (!server->bindAll(server->https_.get(), httpsListen, error))
            return nullptr;
    }
    return server;
}

void HttpServer::configure(evhttp* http) {
    // evhttp counts header bytes without their line endings: guard_ bounds the head as sent.
    evhttp_set_max_headers_size(http, kMaxHeadersSize);
    evhttp_set_max_body_size(http, kMaxBodySize);
    evhttp_set_timeout(http, kRequestTimeoutSeconds);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(http, &HttpServer::onRequest, this);
}

bool HttpServer::bindAll(evhttp* http, const std::vector<net::SocketAddress>& addresses,
                         std::string* error) {
    for (const auto& address : addresses) {
        net::UniqueFd fd = net::bindSocket(address, SOCK_STREAM, error);
        if (!fd)
            return false;
        evhttp_bound_socket* bound = nullptr;
        if (::listen(fd.get(), 64) != 0 ||
            (bound = evhttp_accept_socket_with_handle(http, fd.get())) == nullptr) {
            *error = "cannot listen on tcp " + address.toString();
            return false;
        }
        fd.release();  // evhttp owns it now
        backoffs_.push_back(
            std::make_unique<net::AcceptBackoff>(evhttp_bound_socket_get_listener(bound)));
        DLOG(Info) << "gateway: listening on " << (http == https_.get() ? "https://" : "http://")
                   << address.toString();
    }
    return true;
}

uint64_t HttpServer::acceptPauses() const {
    uint64_t pauses = 0;
    for (const auto& backoff : backoffs_)
        pauses += backoff->pauses();
    return pauses;
}

void HttpServer::setTls(const ServerIdentity& tls) {
    identity_.emplace(tls);  // the previous one destroyed, and its key wiped, first
    tls_.reset();
    tlsFailureLogged_ = false;
}

SSL_CTX* HttpServer::tlsContext() {
    if (tls_ || !identity_)
        return tls_.get();
    std::string error;
    tls_ = makeServerContext(*identity_, &error);
    if (!tls_) {
        // It was made once already, in the child that checked it at start or reload: only
        // memory can be short here. Said once, then at debug level for every connection.
        if (!tlsFailureLogged_) {
            DLOG(Error) << "https: the TLS context could not be made (" << error
                        << "); HTTPS connections are refused until it can be";
            tlsFailureLogged_ = true;
        } else {
            DLOG(Debug) << "https: the TLS context could not be made: " << error;
        }
    }
    return tls_.get();
}

bufferevent* HttpServer::makePlainBufferEvent(event_base* base, void* arg) {
    auto* self = static_cast<HttpServer*>(arg);
    // What evhttp makes itself, but closing the socket on free: the guard may hold the
    // bufferevent a moment longer, and the socket's number must not be reused meanwhile.
    bufferevent* bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    self->guard_.admit(bev);
    return bev;
}

bufferevent* HttpServer::makeTlsBufferEvent(event_base* base, void* arg) {
    auto* self = static_cast<HttpServer*>(arg);
    SSL_CTX* ctx = self->tlsContext();
    SSL* ssl = ctx != nullptr ? SSL_new(ctx) : nullptr;
    if (ssl == nullptr) {
        // No context (tlsContext() said why) or out of memory. evhttp 2.1.12 then makes a plain
        // socket bufferevent itself (evhttp_connection_base_bufferevent_new with bev == NULL): the
        // client's ClientHello is no HTTP request line, evhttp answers a plain-text 400 and closes;
        // no request is ever served without TLS.
        ERR_clear_error();
        DLOG(Debug) << "https: SSL_new failed; connection dropped";
        return nullptr;
    }
    SSL_set_ex_data(ssl, serverIndex(), self);
    SSL_set_info_callback(ssl, &HttpServer::onTlsInfo);
    // With BEV_OPT_CLOSE_ON_FREE the bufferevent owns ssl, also when it cannot be made.
    bufferevent* bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                      BEV_OPT_CLOSE_ON_FREE);
    // Old device TLS stacks close without close_notify; that is the end of a request, not an
    // attack on one we already answered.
    if (bev != nullptr)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    self->guard_.admit(bev);
    return bev;
}

// A device that refuses our self-signed certificate never gets as far as a request: its TLS
// stack ends the handshake with a fatal alert (RFC 8446 §6.2: unknown_ca, bad_certificate,
// certificate_unknown), and ours does the same to a device offering only a protocol version
// below gateway.tls.min_version (protocol_version). Both are what a user needs to know.
void HttpServer::onTlsInfo(const SSL* ssl, int where, int value) {
    // Warnings (close_notify) are the normal end of a connection, and an alert after the
    // handshake is no handshake failure.
    if ((where & SSL_CB_ALERT) == 0 || (value >> 8) != SSL3_AL_FATAL ||
        SSL_is_init_finished(ssl) != 0)
        return;
    auto* self = static_cast<HttpServer*>(SSL_get_ex_data(ssl, serverIndex()));
    if (self == nullptr || self->observer_ == nullptr)
        return;
    // The guard read the address when the connection was new: a client that refuses our
    // certificate closes at once, often with a reset (its TLS stack leaves our handshake's last
    // records unread), and getpeername() on a reset socket fails.
    const int fd = SSL_get_fd(ssl);
    const std::optional<net::IpAddress> client = fd < 0 ? std::nullopt : self->guard_.clientOf(fd);
    if (!client)
        return;
    const char* reason = SSL_alert_desc_string_long(value);
    self->observer_->tlsHandshakeFailed(*client, reason ? reason : "unknown",
                                        (where & SSL_CB_READ) != 0);
}

void HttpServer::onRequest(evhttp_request* request, void* arg) {
    auto* self = static_cast<HttpServer*>(arg);
    if (evhttp_connection* connection = evhttp_request_get_connection(request))
        self->guard_.requestRead(evhttp_connection_get_bufferevent(connection));
    auto exchange = std::make_shared<HttpExchange>(request, toCompat(request));
    if (!self->allow_.contains(exchange->request().client)) {
        exchange->reply({403, "text/plain", "forbidden\n", {}});
        return;
    }
    self->router_(std::move(exchange));
}

}  // namespace dynamo::gateway
