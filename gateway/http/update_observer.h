#pragma once
// What the HTTP side tells the gateway's device list (gateway/devices/) about each client: every
// update request and the reply it got, and every TLS handshake on the HTTPS listener that
// failed. An interface, so gateway/http/ needs nothing of the list's room.
//
// Called on the loop thread: an implementation must not block. No password is ever passed.
// One thread, one event_base, no locks.

#include <string>
#include <vector>

#include "net/socket_address.h"

namespace dynamo::gateway {

// How an update request's credentials fared.
enum class UpdateAuth {
    kNone,         // no Authorization: answered with the 401 challenge
    kUnknownUser,  // no account has this user name
    kBadPassword,  // the account exists, the password is wrong
    kOnHold,       // held after repeated failures: not checked, answered badauth
    kOk,
};

struct UpdateSeen {
    net::IpAddress client;
    UpdateAuth auth = UpdateAuth::kNone;
    std::string username;   // as sent (untrusted); "" with kNone
    std::string userAgent;  // as sent (untrusted); "" when absent
    std::vector<std::string> hostnames;
    std::string myip;   // "" absent, "(empty)", "(invalid)", or the address
    std::string reply;  // the body the device got ("good 1.2.3.4", "badauth", ...)
};

class UpdateObserver {
  public:
    virtual ~UpdateObserver() = default;
    virtual void updateSeen(const UpdateSeen& update) = 0;
    // A handshake that ended in a fatal alert: `reason` is the alert's description
    // (SSL_alert_desc_string_long: "unknown CA", "bad certificate", "protocol version"),
    // `fromClient` whether the client sent it (it refused us) or we did (we refused it).
    virtual void tlsHandshakeFailed(const net::IpAddress& client, const std::string& reason,
                                    bool fromClient) = 0;
};

}  // namespace dynamo::gateway
