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

// What the HTTPS listener's context is made from, held in memory. The context itself is made
// when the first device connects over HTTPS: OpenSSL 3's initialisation (openssl.cnf, the
// default provider and its algorithms) and the context cost about 3 MiB of resident memory,
// which a gateway whose devices all update over plain HTTP never needs. The key's PEM is wiped
// on destruction.
struct ServerIdentity {
    std::string minVersion;  // gateway.tls.min_version
    std::string certPem;     // the certificate, then the rest of its chain
    std::string keyPem;
    // What errors name: "gateway.tls.cert /etc/..." or the self-signed file.
    std::string certSource;
    std::string keySource;
    ~ServerIdentity();
};

// nullptr and *error (one line, naming the file) when the configured certificate or key cannot
// be loaded, the self-signed one cannot be made or written, or min_version is unknown. With
// `unwritten`, a newly made self-signed certificate is not written but left there for
// writeSelfSigned(); without it, it is written before this returns. In this process.
net::SslCtxPtr makeServerContext(const config::GatewayConfig& gateway,
                                 const config::InterceptConfig& intercept,
                                 const std::string& stateDir, std::string* error,
                                 std::optional<UnwrittenIdentity>* unwritten = nullptr);

// The context from an identity checked by checkServerIdentity(); reads no file. nullptr and
// *error (one line, naming the file) should it fail anyway.
net::SslCtxPtr makeServerContext(const ServerIdentity& identity, std::string* error);

// The work of the first makeServerContext() (reading the configured PEM files, or loading or
// making the self-signed ones, and making a context of them), done in a short-lived child
// process so that this one does not initialise OpenSSL; what the context is made from is
// returned. Same errors, plus the child's own failure; `unwritten` as there. Blocks until the
// child has ended (seconds when an RSA key is made).
std::optional<ServerIdentity> checkServerIdentity(
    const config::GatewayConfig& gateway, const config::InterceptConfig& intercept,
    const std::string& stateDir, std::string* error,
    std::optional<UnwrittenIdentity>* unwritten = nullptr);

// Writes a self-signed certificate and key made by makeServerContext() or
// checkServerIdentity() (atomic_file.h; no OpenSSL call).
bool writeSelfSigned(const UnwrittenIdentity& files, std::string* error);

}  // namespace dynamo::gateway
