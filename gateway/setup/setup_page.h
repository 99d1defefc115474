#pragma once
// The /setup page's HTML: pure renderers, no script, one small inline style sheet that reads on a
// phone (the appliance has no Internet duty: nothing is loaded from elsewhere). Every form
// carries the session's CSRF token. Device passwords and tokens are never written into the page:
// an account's form leaves them empty, and an empty field keeps the stored value.

#include <string>
#include <vector>

#include "config/config.h"

namespace dynamo::gateway {

inline constexpr std::string_view kSetupContentType = "text/html; charset=utf-8";

// gateway.admin_password_hash is unset: how to set it, nothing else.
std::string renderSetupWithoutPassword(const std::string& configPath);
std::string renderSetupLogin(const std::string& csrf, const std::string& message);

struct SetupView {
    std::string csrf;
    std::vector<config::Account> accounts;
    std::vector<std::string> upstreams;  // as written in the file
    std::string address;                 // this appliance's, as the client reached it
    std::string message;                 // "account 'cam' saved" and so on
    std::vector<std::string> errors;     // config::parse() lines that refused a change
};
std::string renderSetupPage(const SetupView& view);

}  // namespace dynamo::gateway
