#pragma once
// /setup (README "Set up from a phone"): log-in, then the accounts and the upstream DNS servers,
// on the gateway's HTTP(S) listeners, for clients in dns.allow only (HttpServer answers 403 to
// the rest before this is reached). Without gateway.admin_password_hash it only says how to set
// one. Every change is an edit of the configuration file's text (config_text.h), checked as
// --check would and written atomically (config_file.h), then applied by the daemon's reload.
// Failed log-ins are slowed down per client as failed update logins are (AuthThrottle).
// POST bodies are bounded by the listener (HttpServer::kMaxBodySize). One thread, no locks.

#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "gateway/http/auth_throttle.h"
#include "gateway/http/http_server.h"
#include "gateway/setup/setup_session.h"

namespace dynamo::gateway {

class SetupService {
  public:
    struct Hooks {
        // The running configuration (its admin_password_hash, accounts and upstreams).
        std::function<const config::Config&()> config;
        // Reloads the file as SIGHUP does; false when the daemon refused it.
        std::function<bool()> reload;
    };

    SetupService(std::string configPath, Hooks hooks, SetupSessions::Random random = randomHex128);

    // True when the request was for /setup (and has been answered).
    bool handle(const std::shared_ptr<HttpExchange>& exchange);

  private:
    struct Outcome {
        std::string message;
        std::vector<std::string> errors;
    };
    void serveLogin(const std::shared_ptr<HttpExchange>& exchange, const std::string& message,
                    int status);
    void login(const std::shared_ptr<HttpExchange>& exchange);
    void servePage(const std::shared_ptr<HttpExchange>& exchange,
                   const SetupSessions::Session& session, const Outcome& outcome, int status);
    Outcome saveAccount(const std::map<std::string, std::string, std::less<>>& form);
    Outcome saveUpstreams(const std::map<std::string, std::string, std::less<>>& form);
    Outcome applied(const std::string& what, bool written, std::vector<std::string> errors);

    std::string configPath_;
    Hooks hooks_;
    SetupSessions sessions_;
    AuthThrottle throttle_;
};

}  // namespace dynamo::gateway
