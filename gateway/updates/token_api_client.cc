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
//   - Its timeouts are per read and per write, not per call; the one dynamo.timeout timer stays
//     ours either way.
// So the call keeps its own non-blocking connect and HttpResponseReader: what it sends is one
// GET, what it needs back is one status line and a few bytes of body.

#include "gateway/updates/token_api_client.h"

#include <ares.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "compat/token_api.h"
#include "gateway/updates/http_response_reader.h"
#include "net/ares_channel.h"
#include "net/ascii.h"
#include "net/error_text.h"
#include "net/log.h"
#include "net/timeval.h"
#include "version.h"

namespace dynamo::gateway {
namespace {

// A short, printable excerpt of what the service sent, for the log. The token is cut out
// first: an error page may echo the request path back.
std::string excerpt(std::string_view body, std::string_view token) {
    std::string text(body);
    if (!token.empty()) {
        const std::string redacted = log::maskSecret(token);
        for (size_t at = text.find(token); at != std::string::npos;
             at = text.find(token, at + redacted.size()))
            text.replace(at, token.size(), redacted);
    }
    return log::printable(text, 80);
}

}  // namespace

// One update call. Owned by calls_; every libevent handle below points back at it and dies with
// it, so no callback can outlive it. c-ares queries cannot be cancelled one by one: they carry
// an AresQuery (client, call id) instead and look the call up when they finish.
struct TokenApiClient::Call {
    enum class Phase { Resolving, Connecting, Handshaking, Exchanging, Finished };

    TokenApiClient* client = nullptr;
    uint64_t id = 0;
    Done done;
    std::string token;   // only to scrub it out of logged excerpts
    std::string target;  // request-target: path + token [+ ?ip=]
    std::string logUrl;  // the URL with the token redacted
    Phase phase = Phase::Resolving;

    std::vector<net::SocketAddress> addresses;
    size_t nextAddress = 0;
    net::SocketAddress current;
    std::string connectErrors;
    net::UniqueFd connecting;
    net::EventPtr connectEvent;

    net::BufferEventPtr bev;
    SSL* ssl = nullptr;  // owned by bev
    HttpResponseReader reader;

    net::EventPtr timer;
    net::EventPtr finishEvent;
    TokenApiResult result;
};

struct TokenApiClient::AresQuery {
    TokenApiClient* client;
    uint64_t callId;
};

std::unique_ptr<TokenApiClient> TokenApiClient::create(event_base* base,
                                                       const config::DynamoConfig& config,
                                                       std::vector<net::SocketAddress> dnsServers,
                                                       std::string* error) {
    auto url = UpdateUrl::parse(config.updateUrl, error);
    if (!url)
        return nullptr;
    std::unique_ptr<TokenApiClient> self(new TokenApiClient(base, config, *url));

    if (url->tls) {
        self->sslCtx_.reset(SSL_CTX_new(TLS_client_method()));
        SSL_CTX* ctx = self->sslCtx_.get();
        if (ctx == nullptr || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
            *error = "cannot create the TLS client context";
            return nullptr;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        // A machine without a CA bundle still works with ca_file alone; the failure shows
        // in the first call's verification error.
        SSL_CTX_set_default_verify_paths(ctx);
        if (config.caFile) {
            ERR_clear_error();
            if (SSL_CTX_load_verify_locations(ctx, config.caFile->c_str(), nullptr) != 1) {
                *error = "dynamo.ca_file " + *config.caFile + ": " +
                         net::opensslErrorText(ERR_peek_last_error());
                ERR_clear_error();
                return nullptr;
            }
        }
    }

    if (!url->literal) {
        net::AresChannel::Options options;
        options.servers = std::move(dnsServers);
        std::string aresError;
        self->dns_ = net::AresChannel::create(base, options, &aresError);
        if (!self->dns_) {
            *error = "resolver for the token API: " + aresError;
            return nullptr;
        }
    }
    return self;
}

TokenApiClient::TokenApiClient(event_base* base, const config::DynamoConfig& config, UpdateUrl url)
    : base_(base),
      updateUrl_(config.updateUrl),
      url_(std::move(url)),
      // A zero timeout (config allows "0") would fail every call before it starts.
      timeout_(std::max(config.timeout, std::chrono::seconds(1))) {}

TokenApiClient::~TokenApiClient() {
    // ares_destroy() runs every pending onResolved with ARES_EDESTRUCTION, which touches
    // nothing; then the calls go, and with them every event and bufferevent. None calls back.
    dns_.reset();
    calls_.clear();
}

TokenApiClient::Call* TokenApiClient::findCall(uint64_t id) {
    const auto it = calls_.find(id);
    return it == calls_.end() ? nullptr : it->second.get();
}

void TokenApiClient::update(const std::string& token, const std::optional<net::IpAddress>& ip,
                            Done done) {
    auto owned = std::make_unique<Call>();
    Call& call = *owned;
    call.client = this;
    call.id = nextId_++;
    call.done = std::move(done);
    call.token = token;
    const std::string url = compat::buildUpdateUrl(updateUrl_, token, ip);
    call.target = url.substr(url_.origin.size());
    call.logUrl = compat::buildUpdateUrl(updateUrl_, "", ip);
    call.logUrl.insert(std::min(call.logUrl.find('?'), call.logUrl.size()), log::maskSecret(token));
    call.timer.reset(evtimer_new(base_, &TokenApiClient::onTimeout, &call));
    call.finishEvent.reset(evtimer_new(base_, &TokenApiClient::onFinish, &call));
    const timeval limit = net::toTimeval(timeout_);
    evtimer_add(call.timer.get(), &limit);
    calls_.emplace(call.id, std::move(owned));
    DLOG(Debug) << "token API: GET " << call.logUrl;

    if (url_.literal) {
        call.addresses.emplace_back(*url_.literal, url_.port);
        call.phase = Call::Phase::Connecting;
        connectNext(call);
        return;
    }
    // IPv4 only: without ?ip= the service publishes the address the call comes from, and an
    // A record needs an IPv4 one (docs/updates.md#address-to-publish).
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NOSORT;
    // May call back before it returns; the call is already in calls_ and finish() defers.
    ares_getaddrinfo(dns_->get(), url_.host.c_str(), nullptr, &hints, &TokenApiClient::onResolved,
                     new AresQuery{this, call.id});
    dns_->afterCall();
}

void TokenApiClient::onResolved(void* arg, int status, int, ares_addrinfo* result) {
    std::unique_ptr<AresQuery> query(static_cast<AresQuery*>(arg));
    std::unique_ptr<ares_addrinfo, decltype(&ares_freeaddrinfo)> info(result, &ares_freeaddrinfo);
    if (status == ARES_EDESTRUCTION)
        return;  // the client is being destroyed: its calls are never called back
    TokenApiClient* self = query->client;
    Call* call = self->findCall(query->callId);
    if (call == nullptr || call->phase != Call::Phase::Resolving)
        return;  // timed out meanwhile
    if (status != ARES_SUCCESS) {
        TokenApiResult failed;
        failed.transport = TokenApiResult::Transport::DnsFailed;
        failed.detail = self->url_.host + ": " + ares_strerror(status);
        self->finish(*call, std::move(failed));
        return;
    }
    for (const ares_addrinfo_node* node = info ? info->nodes : nullptr; node != nullptr;
         node = node->ai_next) {
        if (node->ai_family != AF_INET)
            continue;
        if (auto address = net::SocketAddress::fromSockaddr(node->ai_addr, node->ai_addrlen))
            call->addresses.emplace_back(address->ip(), self->url_.port);
    }
    if (call->addresses.empty()) {
        TokenApiResult failed;
        failed.transport = TokenApiResult::Transport::DnsFailed;
        failed.detail = self->url_.host + ": no IPv4 address";
        self->finish(*call, std::move(failed));
        return;
    }
    call->phase = Call::Phase::Connecting;
    self->connectNext(*call);
}

void TokenApiClient::connectNext(Call& call) {
    while (call.nextAddress < call.addresses.size()) {
        call.current = call.addresses[call.nextAddress++];
        net::UniqueFd socket(
            ::socket(call.current.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        int error = errno;
        if (socket) {
            if (::connect(socket.get(), call.current.sockaddr_ptr(), call.current.length()) == 0) {
                startSession(call, std::move(socket));
                return;
            }
            error = errno;
            if (error == EINPROGRESS) {
                call.connecting = std::move(socket);
                call.connectEvent.reset(event_new(base_, call.connecting.get(), EV_WRITE,
                                                  &TokenApiClient::onConnectable, &call));
                event_add(call.connectEvent.get(), nullptr);
                return;
            }
        }
        if (!call.connectErrors.empty())
            call.connectErrors += "; ";
        call.connectErrors += call.current.toString() + ": " + net::errnoText(error);
    }
    TokenApiResult failed;
    failed.transport = TokenApiResult::Transport::ConnectFailed;
    failed.detail = "connect to " + url_.host + " (" + call.connectErrors + ")";
    finish(call, std::move(failed));
}

void TokenApiClient::onConnectable(evutil_socket_t fd, short, void* arg) {
    Call& call = *static_cast<Call*>(arg);
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
        error = errno;
    call.connectEvent.reset();  // non-persistent and already fired: freeing it here is safe
    if (error != 0) {
        call.connecting.reset();
        if (!call.connectErrors.empty())
            call.connectErrors += "; ";
        call.connectErrors += call.current.toString() + ": " + net::errnoText(error);
        call.client->connectNext(call);
        return;
    }
    call.client->startSession(call, std::move(call.connecting));
}

void TokenApiClient::startSession(Call& call, net::UniqueFd socket) {
    if (!url_.tls) {
        call.bev.reset(bufferevent_socket_new(base_, socket.get(), BEV_OPT_CLOSE_ON_FREE));
        if (!call.bev) {
            TokenApiResult failed;
            failed.transport = TokenApiResult::Transport::ConnectFailed;
            failed.detail = "cannot create a bufferevent";
            finish(call, std::move(failed));
            return;
        }
        socket.release();
        call.phase = Call::Phase::Exchanging;
        bufferevent_setcb(call.bev.get(), &TokenApiClient::onRead, nullptr,
                          &TokenApiClient::onEvent, &call);
        bufferevent_enable(call.bev.get(), EV_READ | EV_WRITE);
        sendRequest(call);
        return;
    }

    net::SslPtr ssl(SSL_new(sslCtx_.get()));
    bool ok = ssl != nullptr;
    if (ok && url_.literal) {
        // RFC 6066 §3: no SNI for an address; the certificate must carry it as an IP SAN.
        ok = X509_VERIFY_PARAM_set1_ip(SSL_get0_param(ssl.get()), url_.literal->bytes(),
                                       url_.literal->size()) == 1;
    } else if (ok) {
        // SSL_set_tlsext_host_name() is a macro with a C cast; this is what it expands to.
        ok = SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                      const_cast<char*>(url_.host.c_str())) == 1 &&
             SSL_set1_host(ssl.get(), url_.host.c_str()) == 1;
        SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    if (!ok) {
        TokenApiResult failed;
        failed.transport = TokenApiResult::Transport::TlsFailed;
        failed.detail = "cannot set up the TLS session";
        finish(call, std::move(failed));
        return;
    }
    call.ssl = ssl.get();
    // With BEV_OPT_CLOSE_ON_FREE the bufferevent owns the SSL and the socket from here on; on
    // failure libevent versions disagree on who frees them, so a (never seen) leak beats a
    // double free.
    call.bev.reset(bufferevent_openssl_socket_new(
        base_, socket.release(), ssl.release(), BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE));
    if (!call.bev) {
        call.ssl = nullptr;
        TokenApiResult failed;
        failed.transport = TokenApiResult::Transport::TlsFailed;
        failed.detail = "cannot create the TLS bufferevent";
        finish(call, std::move(failed));
        return;
    }
    // Many HTTPS servers close without close_notify. A body cut short by an attacker is caught
    // by Content-Length or chunked framing; a read-until-close body of a status code would only
    // ever lose its end, which no longer parses as a code.
    bufferevent_openssl_set_allow_dirty_shutdown(call.bev.get(), 1);
    call.phase = Call::Phase::Handshaking;
    bufferevent_setcb(call.bev.get(), &TokenApiClient::onRead, nullptr, &TokenApiClient::onEvent,
                      &call);
    bufferevent_enable(call.bev.get(), EV_READ | EV_WRITE);
}

void TokenApiClient::sendRequest(Call& call) {
    // RFC 9112 §3: request-line, Host (§3.2), one request per connection.
    std::string request = "GET " + call.target + " HTTP/1.1\r\n";
    request += "Host: " + url_.hostHeader + "\r\n";
    request += std::string("User-Agent: dynamo-gateway/") + kVersion + "\r\n";
    request += "Accept: text/plain, */*\r\n";
    request += "Connection: close\r\n\r\n";
    call.phase = Call::Phase::Exchanging;
    bufferevent_write(call.bev.get(), request.data(), request.size());
}

void TokenApiClient::onRead(bufferevent*, void* arg) {
    Call& call = *static_cast<Call*>(arg);
    call.client->readResponse(call);
}

void TokenApiClient::readResponse(Call& call) {
    evbuffer* input = bufferevent_get_input(call.bev.get());
    char buffer[4096];
    while (call.reader.state() == HttpResponseReader::State::Incomplete) {
        const int n = evbuffer_remove(input, buffer, sizeof buffer);
        if (n <= 0)
            return;
        call.reader.feed(std::string_view(buffer, static_cast<size_t>(n)));
    }
    TokenApiResult result;
    if (call.reader.state() == HttpResponseReader::State::Error) {
        // Not an HTTP answer we can read: to the scheduler it is a failed exchange like a reset.
        result.transport = TokenApiResult::Transport::ConnectFailed;
        result.detail =
            "bad HTTP answer from " + call.current.toString() + ": " + call.reader.error();
        finish(call, std::move(result));
        return;
    }
    result.transport = TokenApiResult::Transport::Ok;
    result.httpStatus = call.reader.status();
    if (call.reader.bodyTooLarge()) {
        result.code = compat::TokenApiCode::Unknown;
        result.detail = "HTTP " + std::to_string(result.httpStatus) + ", body longer than " +
                        std::to_string(HttpResponseReader::kMaxBodyBytes) + " bytes";
    } else if (result.httpStatus == 200) {
        result.code = compat::parseTokenApiBody(call.reader.body());
        if (result.code == compat::TokenApiCode::Unknown)
            result.detail = "unexpected body: \"" + excerpt(call.reader.body(), call.token) + "\"";
    } else {
        result.detail = "HTTP " + std::to_string(result.httpStatus) + ": \"" +
                        excerpt(call.reader.body(), call.token) + "\"";
    }
    finish(call, std::move(result));
}

void TokenApiClient::onEvent(bufferevent*, short what, void* arg) {
    Call& call = *static_cast<Call*>(arg);
    if (what & BEV_EVENT_CONNECTED) {
        // The handshake is done and OpenSSL verified chain and host name (SSL_VERIFY_PEER and
        // SSL_set1_host fail the handshake otherwise): only now does the token leave.
        call.client->sendRequest(call);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        call.client->onPeerClosed(call, what);
}

void TokenApiClient::onPeerClosed(Call& call, short what) {
    const int savedErrno = EVUTIL_SOCKET_ERROR();
    TokenApiResult failed;
    if (call.phase == Call::Phase::Handshaking) {
        failed.transport = TokenApiResult::Transport::TlsFailed;
        const long verify = SSL_get_verify_result(call.ssl);
        unsigned long sslError = 0;
        for (unsigned long e; (e = bufferevent_get_openssl_error(call.bev.get())) != 0;)
            sslError = sslError == 0 ? e : sslError;
        if (verify != X509_V_OK) {
            failed.detail = "certificate of " + url_.host + " (" + call.current.toString() +
                            ") not trusted: " + X509_verify_cert_error_string(verify);
        } else if (sslError != 0) {
            failed.detail = "TLS handshake with " + call.current.toString() + ": " +
                            net::opensslErrorText(sslError);
        } else {
            failed.detail =
                "TLS handshake with " + call.current.toString() + ": connection " +
                ((what & BEV_EVENT_EOF) || savedErrno == 0 ? std::string("closed")
                                                           : net::errnoText(savedErrno));
        }
        finish(call, std::move(failed));
        return;
    }
    // Whatever arrived with the close is part of the answer.
    readResponse(call);
    if (call.phase == Call::Phase::Finished)
        return;
    if (what & BEV_EVENT_EOF) {
        call.reader.finishAtEof();
        readResponse(call);  // completes or reports the reader's error
        return;
    }
    const unsigned long sslError = call.ssl ? bufferevent_get_openssl_error(call.bev.get()) : 0;
    if (sslError != 0) {
        failed.transport = TokenApiResult::Transport::TlsFailed;
        failed.detail =
            "TLS error from " + call.current.toString() + ": " + net::opensslErrorText(sslError);
    } else {
        failed.transport = TokenApiResult::Transport::ConnectFailed;
        failed.detail = "connection to " + call.current.toString() + ": " +
                        (savedErrno == 0 ? std::string("closed") : net::errnoText(savedErrno));
    }
    finish(call, std::move(failed));
}

void TokenApiClient::onTimeout(evutil_socket_t, short, void* arg) {
    Call& call = *static_cast<Call*>(arg);
    std::string stage;
    switch (call.phase) {
        case Call::Phase::Resolving:
            stage = "resolving " + call.client->url_.host;
            break;
        case Call::Phase::Connecting:
            stage = "connecting to " + call.current.toString();
            break;
        case Call::Phase::Handshaking:
            stage = "in the TLS handshake with " + call.current.toString();
            break;
        case Call::Phase::Exchanging:
        case Call::Phase::Finished:
            stage = "waiting for the answer from " + call.current.toString();
            break;
    }
    TokenApiResult failed;
    failed.transport = TokenApiResult::Transport::Timeout;
    failed.detail =
        "no answer within " + std::to_string(call.client->timeout_.count()) + "s (" + stage + ")";
    call.client->finish(call, std::move(failed));
}

void TokenApiClient::finish(Call& call, TokenApiResult result) {
    if (call.phase == Call::Phase::Finished)
        return;
    call.phase = Call::Phase::Finished;
    call.result = std::move(result);
    // Freeing a bufferevent or event from inside its own callback is safe in libevent (the
    // bufferevent is reference-counted while its callback runs).
    call.bev.reset();
    call.ssl = nullptr;
    call.connectEvent.reset();
    call.connecting.reset();
    call.timer.reset();
    // `done` runs from its own event: never inside update(), a c-ares callback (the client could
    // not be destroyed there) or a bufferevent callback.
    event_active(call.finishEvent.get(), EV_TIMEOUT, 0);
}

void TokenApiClient::onFinish(evutil_socket_t, short, void* arg) {
    Call& call = *static_cast<Call*>(arg);
    TokenApiClient* self = call.client;
    Done done = std::move(call.done);
    const TokenApiResult result = std::move(call.result);
    const std::string logUrl = call.logUrl;
    self->calls_.erase(call.id);  // frees this event too: it is not touched after this line
    DLOG(Debug) << "token API: " << logUrl << ": "
                << (result.transport == TokenApiResult::Transport::Ok
                        ? "HTTP " + std::to_string(result.httpStatus) + " " +
                              std::string(compat::toString(result.code))
                        : std::string("failed"))
                << (result.detail.empty() ? "" : ": ") << result.detail;
    if (done)
        done(result);  // may destroy the client: nothing of it is used after this
}

}  // namespace dynamo::gateway
