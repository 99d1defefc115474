#pragma once
// The seam between the update scheduler and the network: one call to the DNS Dynamo token API
// (docs/token-api.md#codes). TokenApiClient implements it over verified HTTPS; tests substitute a
// fake.

#include <functional>
#include <optional>
#include <string>

#include "compat/token_api.h"
#include "net/socket_address.h"

namespace dynamo::gateway {

struct TokenApiResult {
    enum class Transport {
        Ok,             // an HTTP answer came back (see httpStatus and code)
        DnsFailed,      // the update host did not resolve
        ConnectFailed,  // refused, unreachable, reset
        TlsFailed,      // handshake or certificate/host-name verification failed
        Timeout,        // no whole answer within dynamo.timeout
    };
    Transport transport = Transport::Ok;
    int httpStatus = 0;
    compat::TokenApiCode code = compat::TokenApiCode::Unknown;  // meaningful for 200
    std::string detail;  // for the log: what went wrong, never the token

    bool answered() const { return transport == Transport::Ok && httpStatus == 200; }
};

class TokenApi {
  public:
    using Done = std::function<void(const TokenApiResult&)>;
    virtual ~TokenApi() = default;
    // `done` runs exactly once, never before update() returns, and never after the TokenApi is
    // destroyed (destruction cancels calls in flight without calling them back).
    virtual void update(const std::string& token, const std::optional<net::IpAddress>& ip,
                        Done done) = 0;
};

}  // namespace dynamo::gateway
