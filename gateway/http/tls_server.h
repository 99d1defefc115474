#pragma once
// The server-side TLS context of the HTTPS update listener (docs/updates.md#listeners).
//
// Certificate: gateway.tls.cert/key (PEM) when configured. Otherwise a self-signed one made
// in state_dir on first start and reused afterwards: RSA 2048, SHA-256, CN members.dyndns.org,
// a DNS SAN for members.dyndns.org and for every dns.intercept name (a "*.example" pattern is
// written as the wildcard SAN it is), valid 10 years. It is made again when the SAN set changes
// (intercept names edited), when it no longer matches its key, or when it is about to expire.
// Devices that check certificates at all need it installed, so it is kept stable otherwise.
//
// Protocol floor: gateway.tls.min_version. "1.0"/"1.1" exist for routers and cameras whose
// firmware froze around 2010 (TLS 1.0, AES-CBC-SHA or 3DES with RSA key exchange); only this
// context is lowered to OpenSSL security level 0 for them, never the token-API client.

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "net/handles.h"

namespace dynamo::gateway {

// File names inside state_dir.
inline constexpr const char* kSelfSignedCertFile = "tls-self-signed.crt";
inline constexpr const char* kSelfSignedKeyFile = "tls-self-signed.key";  // mode 0600

// The DNS names the self-signed certificate carries: members.dyndns.org plus every intercepted
// name, sorted, without duplicates.
std::vector<std::string> selfSignedNames(const config::InterceptConfig& intercept);

// A self-signed certificate and key made in memory and not yet in state_dir (a reload writes
// them only once nothing else can make it fail). The key's PEM is wiped on destruction.
struct UnwrittenIdentity {
    std::string stateDir;
    std::string keyPem;
    std::string certPem;
    ~UnwrittenIdentity();
};

// nullptr and *error (one line, naming the file) when the configured certificate or key cannot
// be loaded, the self-signed one cannot be made or written, or min_version is unknown. With
// `unwritten`, a newly made self-signed certificate is not written but left there for
// writeSelfSigned(); without it, it is written before this returns.
net::SslCtxPtr makeServerContext(const config::GatewayConfig& gateway,
                                 const config::InterceptConfig& intercept,
                                 const std::string& stateDir, std::string* error,
                                 std::optional<UnwrittenIdentity>* unwritten = nullptr);

// Writes a self-signed certificate and key made by makeServerContext() (atomic_file.h).
bool writeSelfSigned(const UnwrittenIdentity& files, std::string* error);

}  // namespace dynamo::gateway
