// The connection steps follow gateway/updates/token_api_client.cc, which says why the gateway
// speaks HTTP/1.1 itself instead of through libevent's evhttp client; only the request differs
// (a POST with a body and the channel's header fields).

#include "gateway/alerts/http_poster.h"

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
#include "gateway/updates/update_url.h"
#include "net/ares_channel.h"
#include "net/error_text.h"
#include "net/log.h"
#include "net/timeval.h"
#include "version.h"

namespace dynamo::gateway {

struct HttpPoster::Post {
    enum class Phase { Resolving, Connecting, Handshaking, Exchanging, Finished };

    HttpPoster* poster = nullptr;
    uint64_t id = 0;
    Done done;
    UpdateUrl url;
    std::string request;  // the whole request, written once the connection is ready
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
    PostResult result;
};

struct HttpPoster::AresQuery {
    HttpPoster* poster;
    uint64_t postId;
};

std::unique_ptr<HttpPoster> HttpPoster::create(event_base* base,
                                               const std::optional<std::string>& caFile,
                                               std::vector<net::SocketAddress> dnsServers,
                                               std::chrono::seconds timeout, std::string* error) {
    std::unique_ptr<HttpPoster> self(new HttpPoster(base, timeout));
    self->sslCtx_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX* ctx = self->sslCtx_.get();
    if (ctx == nullptr || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        *error = "cannot create the TLS client context";
        return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_default_verify_paths(ctx);
    if (caFile) {
        ERR_clear_error();
        if (SSL_CTX_load_verify_locations(ctx, caFile->c_str(), nullptr) != 1) {
            *error =
                "dynamo.ca_file " + *caFile + ": " + net::opensslErrorText(ERR_peek_last_error());
            ERR_clear_error();
            return nullptr;
        }
    }
    net::AresChannel::Options options;
    options.servers = std::move(dnsServers);
    std::string aresError;
    self->dns_ = net::AresChannel::create(base, options, &aresError);
    if (!self->dns_) {
        *error = "resolver for alerts: " + aresError;
        return nullptr;
    }
    return self;
}

HttpPoster::HttpPoster(event_base* base, std::chrono::seconds timeout)
    : base_(base), timeout_(std::max(timeout, std::chrono::seconds(1))) {}

HttpPoster::~HttpPoster() {
    dns_.reset();  // pending onResolved run with ARES_EDESTRUCTION and touch nothing
    posts_.clear();
}

HttpPoster::Post* HttpPoster::findPost(uint64_t id) {
    const auto it = posts_.find(id);
    return it == posts_.end() ? nullptr : it->second.get();
}

void HttpPoster::post(const std::string& urlText, const Headers& headers,
                      const std::string& contentType, const std::string& body, Done done) {
    auto owned = std::make_unique<Post>();
    Post& post = *owned;
    post.poster = this;
    post.id = nextId_++;
    post.done = std::move(done);
    post.timer.reset(evtimer_new(base_, &HttpPoster::onTimeout, &post));
    post.finishEvent.reset(evtimer_new(base_, &HttpPoster::onFinish, &post));
    posts_.emplace(post.id, std::move(owned));

    std::string error;
    auto url = UpdateUrl::parse(urlText, &error);
    if (!url) {
        finish(post, {false, 0, "bad URL: " + error});
        return;
    }
    post.url = std::move(*url);
    std::string target = urlText.substr(std::min(post.url.origin.size(), urlText.size()));
    if (target.empty())
        target = "/";
    // RFC 9112 §3: request-line, Host, a body framed by Content-Length, one request per
    // connection.
    post.request = "POST " + target + " HTTP/1.1\r\nHost: " + post.url.hostHeader + "\r\n";
    post.request += std::string("User-Agent: dynamo-gateway/") + kVersion + "\r\n";
    post.request += "Content-Type: " + contentType + "\r\n";
    post.request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    for (const auto& [name, value] : headers)
        post.request += name + ": " + value + "\r\n";
    post.request += "Connection: close\r\n\r\n" + body;

    const timeval limit = net::toTimeval(timeout_);
    evtimer_add(post.timer.get(), &limit);
    if (post.url.literal) {
        post.addresses.emplace_back(*post.url.literal, post.url.port);
        post.phase = Post::Phase::Connecting;
        connectNext(post);
        return;
    }
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    ares_getaddrinfo(dns_->get(), post.url.host.c_str(), nullptr, &hints, &HttpPoster::onResolved,
                     new AresQuery{this, post.id});
    dns_->afterCall();
}

void HttpPoster::onResolved(void* arg, int status, int, ares_addrinfo* result) {
    std::unique_ptr<AresQuery> query(static_cast<AresQuery*>(arg));
    std::unique_ptr<ares_addrinfo, decltype(&ares_freeaddrinfo)> info(result, &ares_freeaddrinfo);
    if (status == ARES_EDESTRUCTION)
        return;
    HttpPoster* self = query->poster;
    Post* post = self->findPost(query->postId);
    if (post == nullptr || post->phase != Post::Phase::Resolving)
        return;
    if (status != ARES_SUCCESS) {
        self->finish(*post, {false, 0, post->url.host + ": " + ares_strerror(status)});
        return;
    }
    for (const ares_addrinfo_node* node = info ? info->nodes : nullptr; node != nullptr;
         node = node->ai_next) {
        if (auto address = net::SocketAddress::fromSockaddr(node->ai_addr, node->ai_addrlen))
            post->addresses.emplace_back(address->ip(), post->url.port);
    }
    if (post->addresses.empty()) {
        self->finish(*post, {false, 0, post->url.host + ": no address"});
        return;
    }
    post->phase = Post::Phase::Connecting;
    self->connectNext(*post);
}

void HttpPoster::connectNext(Post& post) {
    while (post.nextAddress < post.addresses.size()) {
        post.current = post.addresses[post.nextAddress++];
        net::UniqueFd socket(
            ::socket(post.current.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        int error = errno;
        if (socket) {
            if (::connect(socket.get(), post.current.sockaddr_ptr(), post.current.length()) == 0) {
                startSession(post, std::move(socket));
                return;
            }
            error = errno;
            if (error == EINPROGRESS) {
                post.connecting = std::move(socket);
                post.connectEvent.reset(event_new(base_, post.connecting.get(), EV_WRITE,
                                                  &HttpPoster::onConnectable, &post));
                event_add(post.connectEvent.get(), nullptr);
                return;
            }
        }
        if (!post.connectErrors.empty())
            post.connectErrors += "; ";
        post.connectErrors += post.current.toString() + ": " + net::errnoText(error);
    }
    finish(post, {false, 0, "connect to " + post.url.host + " (" + post.connectErrors + ")"});
}

void HttpPoster::onConnectable(evutil_socket_t fd, short, void* arg) {
    Post& post = *static_cast<Post*>(arg);
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
        error = errno;
    post.connectEvent.reset();
    if (error != 0) {
        post.connecting.reset();
        if (!post.connectErrors.empty())
            post.connectErrors += "; ";
        post.connectErrors += post.current.toString() + ": " + net::errnoText(error);
        post.poster->connectNext(post);
        return;
    }
    post.poster->startSession(post, std::move(post.connecting));
}

void HttpPoster::startSession(Post& post, net::UniqueFd socket) {
    if (!post.url.tls) {
        post.bev.reset(bufferevent_socket_new(base_, socket.get(), BEV_OPT_CLOSE_ON_FREE));
        if (!post.bev) {
            finish(post, {false, 0, "cannot create a bufferevent"});
            return;
        }
        socket.release();
        post.phase = Post::Phase::Exchanging;
        bufferevent_setcb(post.bev.get(), &HttpPoster::onRead, nullptr, &HttpPoster::onEvent,
                          &post);
        bufferevent_enable(post.bev.get(), EV_READ | EV_WRITE);
        bufferevent_write(post.bev.get(), post.request.data(), post.request.size());
        return;
    }
    net::SslPtr ssl(SSL_new(sslCtx_.get()));
    bool ok = ssl != nullptr;
    if (ok && post.url.literal) {
        // RFC 6066 §3: no SNI for an address; the certificate must carry it as an IP SAN.
        ok = X509_VERIFY_PARAM_set1_ip(SSL_get0_param(ssl.get()), post.url.literal->bytes(),
                                       post.url.literal->size()) == 1;
    } else if (ok) {
        ok = SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                      const_cast<char*>(post.url.host.c_str())) == 1 &&
             SSL_set1_host(ssl.get(), post.url.host.c_str()) == 1;
        SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    if (!ok) {
        finish(post, {false, 0, "cannot set up the TLS session"});
        return;
    }
    post.ssl = ssl.get();
    post.bev.reset(bufferevent_openssl_socket_new(
        base_, socket.release(), ssl.release(), BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE));
    if (!post.bev) {
        post.ssl = nullptr;
        finish(post, {false, 0, "cannot create the TLS bufferevent"});
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(post.bev.get(), 1);
    post.phase = Post::Phase::Handshaking;
    bufferevent_setcb(post.bev.get(), &HttpPoster::onRead, nullptr, &HttpPoster::onEvent, &post);
    bufferevent_enable(post.bev.get(), EV_READ | EV_WRITE);
}

void HttpPoster::onRead(bufferevent*, void* arg) {
    Post& post = *static_cast<Post*>(arg);
    post.poster->readResponse(post);
}

void HttpPoster::readResponse(Post& post) {
    evbuffer* input = bufferevent_get_input(post.bev.get());
    char buffer[4096];
    while (post.reader.state() == HttpResponseReader::State::Incomplete) {
        const int n = evbuffer_remove(input, buffer, sizeof buffer);
        if (n <= 0)
            return;
        post.reader.feed(std::string_view(buffer, static_cast<size_t>(n)));
    }
    if (post.reader.state() == HttpResponseReader::State::Error) {
        finish(post,
               {false, 0,
                "bad HTTP answer from " + post.current.toString() + ": " + post.reader.error()});
        return;
    }
    const int status = post.reader.status();
    finish(post, {status >= 200 && status < 300, status, "HTTP " + std::to_string(status)});
}

void HttpPoster::onEvent(bufferevent*, short what, void* arg) {
    Post& post = *static_cast<Post*>(arg);
    if (what & BEV_EVENT_CONNECTED) {
        // Verified chain and host name: only now may the body (and its header values) leave.
        post.phase = Post::Phase::Exchanging;
        bufferevent_write(post.bev.get(), post.request.data(), post.request.size());
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        post.poster->onPeerClosed(post, what);
}

void HttpPoster::onPeerClosed(Post& post, short what) {
    const int savedErrno = EVUTIL_SOCKET_ERROR();
    if (post.phase == Post::Phase::Handshaking) {
        const long verify = SSL_get_verify_result(post.ssl);
        std::string detail = verify != X509_V_OK
                                 ? "certificate of " + post.url.host +
                                       " not trusted: " + X509_verify_cert_error_string(verify)
                                 : "TLS handshake with " + post.current.toString() + " failed";
        finish(post, {false, 0, std::move(detail)});
        return;
    }
    readResponse(post);
    if (post.phase == Post::Phase::Finished)
        return;
    if (what & BEV_EVENT_EOF) {
        post.reader.finishAtEof();
        readResponse(post);
        if (post.phase == Post::Phase::Finished)
            return;
    }
    finish(post, {false, 0,
                  "connection to " + post.current.toString() + ": " +
                      (savedErrno == 0 ? std::string("closed") : net::errnoText(savedErrno))});
}

void HttpPoster::onTimeout(evutil_socket_t, short, void* arg) {
    Post& post = *static_cast<Post*>(arg);
    post.poster->finish(
        post,
        {false, 0, "no answer within " + std::to_string(post.poster->timeout_.count()) + "s"});
}

void HttpPoster::finish(Post& post, PostResult result) {
    if (post.phase == Post::Phase::Finished)
        return;
    post.phase = Post::Phase::Finished;
    post.result = std::move(result);
    post.bev.reset();
    post.ssl = nullptr;
    post.connectEvent.reset();
    post.connecting.reset();
    post.timer.reset();
    event_active(post.finishEvent.get(), EV_TIMEOUT, 0);
}

void HttpPoster::onFinish(evutil_socket_t, short, void* arg) {
    Post& post = *static_cast<Post*>(arg);
    HttpPoster* self = post.poster;
    Done done = std::move(post.done);
    const PostResult result = std::move(post.result);
    self->posts_.erase(post.id);  // frees this event too
    if (done)
        done(result);
}

}  // namespace dynamo::gateway
