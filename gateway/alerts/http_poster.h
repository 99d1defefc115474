#pragma once
// POSTs an alert to a webhook or an ntfy topic: the token-API client's way of talking HTTP
// (gateway/updates/token_api_client.h) for one POST with a body: the host resolved through our
// own c-ares channel (dns.upstreams, never getaddrinfo), a non-blocking connect to each IPv4
// and IPv6 address in turn, TLS >= 1.2 verified against the system store plus dynamo.ca_file
// (SNI, host-name check), one bounded response read by HttpResponseReader, and one overall
// timeout per post.
//
// One thread, one event_base, no locks. `done` always runs from its own deferred event, never
// inside post(), so it may destroy the poster.

#include <event2/event.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/handles.h"
#include "net/socket_address.h"

struct ares_addrinfo;

namespace dynamo::net {
class AresChannel;
}

namespace dynamo::gateway {

struct PostResult {
    bool delivered = false;  // a 2xx answer
    int httpStatus = 0;      // 0 when none came
    std::string detail;      // "HTTP 200", "HTTP 503", "connect to ...: refused", "timeout"
};

class HttpPoster {
  public:
    using Done = std::function<void(const PostResult&)>;
    using Headers = std::vector<std::pair<std::string, std::string>>;

    // nullptr with *error for an unreadable ca_file or a resolver c-ares refuses.
    static std::unique_ptr<HttpPoster> create(event_base* base,
                                              const std::optional<std::string>& caFile,
                                              std::vector<net::SocketAddress> dnsServers,
                                              std::chrono::seconds timeout, std::string* error);
    ~HttpPoster();  // cancels every post in flight without calling it back
    HttpPoster(const HttpPoster&) = delete;
    HttpPoster& operator=(const HttpPoster&) = delete;

    // `headers` values are never logged. A URL that does not parse fails through `done`.
    void post(const std::string& url, const Headers& headers, const std::string& contentType,
              const std::string& body, Done done);

    size_t inFlight() const { return posts_.size(); }

  private:
    struct Post;
    struct AresQuery;

    HttpPoster(event_base* base, std::chrono::seconds timeout);

    static void onTimeout(evutil_socket_t fd, short what, void* arg);
    static void onResolved(void* arg, int status, int timeouts, ares_addrinfo* result);
    static void onConnectable(evutil_socket_t fd, short what, void* arg);
    static void onRead(bufferevent* bev, void* arg);
    static void onEvent(bufferevent* bev, short what, void* arg);
    static void onFinish(evutil_socket_t fd, short what, void* arg);

    Post* findPost(uint64_t id);
    void connectNext(Post& post);
    void startSession(Post& post, net::UniqueFd socket);
    void readResponse(Post& post);
    void onPeerClosed(Post& post, short what);
    void finish(Post& post, PostResult result);

    event_base* base_;
    std::chrono::seconds timeout_;
    net::SslCtxPtr sslCtx_;
    std::unique_ptr<net::AresChannel> dns_;
    std::unordered_map<uint64_t, std::unique_ptr<Post>> posts_;
    uint64_t nextId_ = 1;
};

}  // namespace dynamo::gateway
