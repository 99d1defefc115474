#pragma once
// The real TokenApi (docs/updates.md#token-api-client): one `GET <update_url><token>[?ip=A.B.C.D]`
// per call, over HTTPS with certificate and host-name verification (system store plus
// dynamo.ca_file), SNI and TLS >= 1.2, or over plain HTTP when update_url says http://.
//
// Each call is one GET through HttpClient (http_client.h): the host resolved through our own
// c-ares channel (dns.upstreams; never getaddrinfo, never this daemon's interception), each IPv4
// address tried in turn, the TLS peer verified before the token leaves, one bounded response,
// one dynamo.timeout for the whole call. This class builds the URL, reads the answer as a
// token-API code, and keeps the token out of the log.
//
// One thread, one event_base, no locks. A call's `done` always runs from its own deferred
// event, never inside update() and never inside a c-ares or bufferevent callback, so `done`
// may destroy the client.

#include <event2/event.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "gateway/updates/http_client.h"
#include "gateway/updates/token_api.h"
#include "net/socket_address.h"

namespace dynamo::gateway {

class TokenApiClient final : public TokenApi {
  public:
    // nullptr and *error set for a bad update_url, an unreadable ca_file or upstreams c-ares
    // refuses. dnsServers: where the update host is resolved (config dns.upstreams).
    static std::unique_ptr<TokenApiClient> create(event_base* base,
                                                  const config::DynamoConfig& config,
                                                  std::vector<net::SocketAddress> dnsServers,
                                                  std::string* error);
    // Cancels every call in flight without calling it back.
    ~TokenApiClient() override;
    TokenApiClient(const TokenApiClient&) = delete;
    TokenApiClient& operator=(const TokenApiClient&) = delete;

    void update(const std::string& token, const std::optional<net::IpAddress>& ip,
                Done done) override;

    // Calls started and not yet called back (for the status page and tests).
    size_t inFlight() const { return http_->inFlight(); }

  private:
    TokenApiClient(std::string updateUrl, std::unique_ptr<HttpClient> http);

    std::string updateUrl_;  // as configured, for building URLs and for the log
    std::unique_ptr<HttpClient> http_;
};

}  // namespace dynamo::gateway
