#pragma once
// SHA-256 (FIPS 180-4) of a byte string, without OpenSSL.
//
// Why not EVP_Digest(EVP_sha256())? In OpenSSL 3 the first digest initialises the library: it
// reads openssl.cnf, activates the default provider and fetches every digest it offers, which
// faults in about 2 MiB of libcrypto and heap (measured on Debian 12, OpenSSL 3.0). The daemon
// hashes each account's token at start (its key in the state file, tokenKey()); a gateway
// without TLS (http:// token API, no https_listen) would carry those 2 MiB for nothing.
// OpenSSL stays for TLS and for everything else that needs it.
//
// No branch or table index depends on the data, so hashing a secret takes the same time
// whatever it holds.

#include <array>
#include <cstdint>
#include <string_view>

namespace dynamo::net {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest sha256(std::string_view data);

}  // namespace dynamo::net
