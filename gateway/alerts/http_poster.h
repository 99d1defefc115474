#pragma once
// POSTs an alert to a webhook or an ntfy topic through the gateway's one HTTP(S) client
// (gateway/updates/http_client.h): the host resolved through our own c-ares channel
// (dns.upstreams, never getaddrinfo), each IPv4 and IPv6 address tried in turn, TLS >= 1.2
// verified against the system store plus dynamo.ca_file (SNI, host-name check), one bounded
// response, one overall timeout per post. Delivered means a 2xx answer.
//
// One thread, one event_base, no locks. `done` always runs from its own deferred event, never
// inside post(), so it may destroy the poster.

#include <event2/event.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/updates/http_client.h"
#include "net/socket_address.h"

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
    ~HttpPoster() = default;  // cancels every post in flight without calling it back
    HttpPoster(const HttpPoster&) = delete;
    HttpPoster& operator=(const HttpPoster&) = delete;

    // `headers` values are never logged. A URL that does not parse fails through `done`.
    void post(const std::string& url, const Headers& headers, const std::string& contentType,
              const std::string& body, Done done);

    size_t inFlight() const { return http_->inFlight(); }

  private:
    explicit HttpPoster(std::unique_ptr<HttpClient> http) : http_(std::move(http)) {}

    std::unique_ptr<HttpClient> http_;
};

}  // namespace dynamo::gateway
