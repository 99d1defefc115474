#pragma once
// Device credentials: where a DynDNS client puts them, and how they are checked
// (docs/updates.md#credentials).
//
// Clients send HTTP Basic (ddclient, inadyn, FRITZ!Box, most routers), some only after a 401
// challenge (wget-based camera and NAS firmware), and some put them in the query or form as
// username/password or user/pass (custom update URLs of routers, home-made scripts).

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "compat/form.h"
#include "config/config.h"

namespace dynamo::compat {

struct Credentials {
    std::string username;
    std::string password;
};

// The credentials of an "Authorization: Basic <base64>" value (RFC 7617): scheme compared
// case-insensitively, base64 with or without padding, user and password split at the FIRST
// colon (a user-id cannot contain one; a password can). nullopt when the value is not Basic or
// does not decode, i.e. the client offered nothing usable. No colon at all: the whole value is
// the user name with an empty password, so it is counted as a wrong attempt, not a missing one.
std::optional<Credentials> parseBasicAuthorization(std::string_view headerValue);

// Basic first; otherwise username/password, then user/pass from the merged query and form.
// A parameter pair counts when its user name is present (a missing password is empty).
// nullopt means "none offered": answer the 401 challenge and do not count a failure.
std::optional<Credentials> findCredentials(std::string_view authorizationHeader,
                                           const Form& params);

// Equality whose running time does not depend on where a and b differ, nor on which of them
// is longer: both are hashed (SHA-256) and the fixed-size digests compared with CRYPTO_memcmp.
bool constantTimeEquals(std::string_view a, std::string_view b);

// The account with this user name and password (a pointer into accounts), or nullptr. Every
// account's user name and
// password are compared, whatever matched before, so the time taken does not tell an attacker
// whether a user name exists or which account it is.
const config::Account* findAccount(std::span<const config::Account> accounts,
                                   const Credentials& credentials);

}  // namespace dynamo::compat
