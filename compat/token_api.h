#pragma once
// The KisoLabs DNS Dynamo side: the update URL and the status codes its body carries
// (docs/token-api.md#codes). Transport (HTTPS, timeouts, status codes other than 200) is the
// gateway's.

#include <optional>
#include <string>
#include <string_view>

#include "net/socket_address.h"

namespace dynamo::compat {

enum class TokenApiCode { UpOk, UpEr, Nc, Nr, Nd, Tf, Nt, In, Er, Unknown };

// The code in a 200 answer's body. Surrounding whitespace (CR, LF, spaces, tabs) is ignored;
// the code itself must match exactly, case included. Anything else is Unknown (a fatal error
// per docs/token-api.md#codes, which the reply mapping turns into 911 and a retry).
TokenApiCode parseTokenApiBody(std::string_view body);

// The code as the service writes it ("UP,OK"); "unknown" for Unknown.
std::string_view toString(TokenApiCode code);

// The code whose toString() is `text` ("unknown" included); nullopt for any other text.
std::optional<TokenApiCode> codeFromString(std::string_view text);

// In words, for the log and the status page.
std::string_view describe(TokenApiCode code);

// baseUrl + token [+ "?ip=A.B.C.D"]. A '/' is added when baseUrl lacks one. ip must be the
// IPv4 from addressToPublish(); anything else (IPv6, unset) is left out, because the service
// would refuse it with IN while, without it, it uses our source address. Bytes of the token
// outside RFC 3986's unreserved set are percent-encoded (real tokens are letters and digits).
std::string buildUpdateUrl(std::string_view baseUrl, std::string_view token,
                           const std::optional<net::IpAddress>& ip);

}  // namespace dynamo::compat
