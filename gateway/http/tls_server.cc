#include "gateway/http/tls_server.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>

#include "net/atomic_file.h"
#include "net/error_text.h"
#include "net/log.h"

namespace dynamo::gateway {
namespace {

using BioPtr = net::Handle<BIO, BIO_free_all>;
using PkeyCtxPtr = net::Handle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using BignumPtr = net::Handle<BIGNUM, BN_free>;
using ExtensionPtr = net::Handle<X509_EXTENSION, X509_EXTENSION_free>;
using GeneralNamesPtr = net::Handle<GENERAL_NAMES, GENERAL_NAMES_free>;

constexpr const char* kCommonName = "members.dyndns.org";
constexpr int kKeyBits = 2048;
constexpr long kValidDays = 3650;
// Remade this long before it expires, so a device never sees an expired certificate.
constexpr long kRenewDays = 30;

// RSA key exchange and ECDHE with AES-CBC-SHA and 3DES: what TLS 1.0 firmware offers (the
// 2010-era OpenSSL and embedded stacks of DD-WRT, older FRITZ!OS, IP cameras). Modern AEAD
// suites come first and the server's order wins, so current clients never land on CBC.
constexpr const char* kLegacyCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "AES128-GCM-SHA256:AES256-GCM-SHA384:"
    "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:AES128-SHA:AES256-SHA:DES-CBC3-SHA";

std::string joinPath(const std::string& dir, const char* name) {
    if (!dir.empty() && dir.back() == '/')
        return dir + name;
    return dir + "/" + name;
}

std::optional<int> protocolVersion(const std::string& name) {
    if (name == "1.0")
        return TLS1_VERSION;
    if (name == "1.1")
        return TLS1_1_VERSION;
    if (name == "1.2")
        return TLS1_2_VERSION;
    if (name == "1.3")
        return TLS1_3_VERSION;
    return std::nullopt;
}

// --- reading an existing certificate ---------------------------------------------------------

net::X509Ptr readCertificate(const std::string& path) {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio)
        return nullptr;
    return net::X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

net::EvpPkeyPtr readKey(const std::string& path) {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio)
        return nullptr;
    return net::EvpPkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::vector<std::string> dnsNamesOf(X509* cert) {
    std::vector<std::string> names;
    GeneralNamesPtr sans(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    if (!sans)
        return names;
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
        if (name->type != GEN_DNS)
            continue;
        const ASN1_STRING* text = name->d.dNSName;
        names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                           static_cast<size_t>(ASN1_STRING_length(text)));
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

// Why the certificate on disk cannot be used any more; nullopt when it can.
std::optional<std::string> reasonToRemake(X509* cert, EVP_PKEY* key,
                                          const std::vector<std::string>& names) {
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        return "it does not match its key";
    }
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < kKeyBits)
        return "its key is not RSA 2048";
    if (dnsNamesOf(cert) != names)
        return "the intercepted names changed";
    time_t renewAt = std::time(nullptr) + kRenewDays * 24 * 3600;
    if (X509_cmp_time(X509_get0_notAfter(cert), &renewAt) <= 0)
        return "it expires within " + std::to_string(kRenewDays) + " days";
    return std::nullopt;
}

// --- making a new one ------------------------------------------------------------------------

net::EvpPkeyPtr generateRsaKey(std::string* error) {
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY* key = nullptr;
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), kKeyBits) != 1 ||
        EVP_PKEY_generate(ctx.get(), &key) != 1) {
        *error = "RSA key generation: " + net::takeOpensslError();
        return nullptr;
    }
    return net::EvpPkeyPtr(key);
}

bool addExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
    ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
    return extension && X509_add_ext(cert, extension.get(), -1) == 1;
}

bool addSubjectAltNames(X509* cert, const std::vector<std::string>& names) {
    // Built name by name rather than from a "DNS:a,DNS:b" string, so no name can inject syntax.
    GeneralNamesPtr sans(GENERAL_NAMES_new());
    if (!sans)
        return false;
    for (const std::string& name : names) {
        ASN1_IA5STRING* text = ASN1_IA5STRING_new();
        GENERAL_NAME* entry = GENERAL_NAME_new();
        if (text == nullptr || entry == nullptr ||
            ASN1_STRING_set(text, name.data(), static_cast<int>(name.size())) != 1) {
            ASN1_IA5STRING_free(text);
            GENERAL_NAME_free(entry);
            return false;
        }
        GENERAL_NAME_set0_value(entry, GEN_DNS, text);
        if (sk_GENERAL_NAME_push(sans.get(), entry) <= 0) {
            GENERAL_NAME_free(entry);
            return false;
        }
    }
    return X509_add1_ext_i2d(cert, NID_subject_alt_name, sans.get(), 0, X509V3_ADD_DEFAULT) == 1;
}

net::X509Ptr makeSelfSigned(EVP_PKEY* key, const std::vector<std::string>& names,
                            std::string* error) {
    net::X509Ptr cert(X509_new());
    BignumPtr serial(BN_new());
    bool ok = cert && serial && X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
              // RFC 5280 §4.1.2.2: positive, at most 20 octets; random so a remade certificate
              // never repeats an issuer/serial pair a device has cached.
              BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
              BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) != nullptr &&
              // A day back: devices without a real-time clock run a little behind after boot.
              X509_gmtime_adj(X509_getm_notBefore(cert.get()), -24 * 3600) != nullptr &&
              X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(kValidDays), 0,
                               nullptr) != nullptr &&
              X509_set_pubkey(cert.get(), key) == 1;
    if (ok) {
        X509_NAME* subject = X509_get_subject_name(cert.get());
        ok = X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                        reinterpret_cast<const unsigned char*>(kCommonName), -1, -1,
                                        0) == 1 &&
             X509_set_issuer_name(cert.get(), subject) == 1;
    }
    if (ok) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
        // No keyUsage: with one, OpenSSL (and others) would demand keyCertSign before taking
        // this self-issued certificate as its own trust anchor (curl --cacert, a pinned device).
        ok = addExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
             addExtension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth") &&
             addExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash") &&
             addSubjectAltNames(cert.get(), names) && X509_sign(cert.get(), key, EVP_sha256()) > 0;
    }
    if (!ok) {
        *error = "self-signed certificate: " + net::takeOpensslError();
        return nullptr;
    }
    return cert;
}

// PEM text of a key or certificate.
template <typename WritePem>
std::optional<std::string> toPem(WritePem write) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || !write(bio.get()))
        return std::nullopt;
    std::string out(BIO_ctrl_pending(bio.get()), '\0');
    if (BIO_read(bio.get(), out.data(), static_cast<int>(out.size())) !=
        static_cast<int>(out.size()))
        return std::nullopt;
    return out;
}

struct Identity {
    net::X509Ptr cert;
    net::EvpPkeyPtr key;
};

// With `unwritten`, a new certificate and key are left there for writeSelfSigned() instead of
// being written now.
std::optional<Identity> loadOrMakeSelfSigned(const config::InterceptConfig& intercept,
                                             const std::string& stateDir, std::string* error,
                                             std::optional<UnwrittenIdentity>* unwritten) {
    const std::vector<std::string> names = selfSignedNames(intercept);
    const std::string certPath = joinPath(stateDir, kSelfSignedCertFile);
    const std::string keyPath = joinPath(stateDir, kSelfSignedKeyFile);

    Identity identity{readCertificate(certPath), readKey(keyPath)};
    ERR_clear_error();
    if (identity.cert && identity.key) {
        const auto reason = reasonToRemake(identity.cert.get(), identity.key.get(), names);
        if (!reason) {
            // Someone widened the key's permissions: narrow them again rather than serve a key
            // others can read.
            struct stat st {};
            if (::stat(keyPath.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
                DLOG(Warning) << keyPath << " was readable by others; mode set to 0600";
                ::chmod(keyPath.c_str(), 0600);
            }
            return identity;
        }
        DLOG(Info) << "making a new self-signed certificate in " << stateDir << ": " << *reason;
    } else {
        DLOG(Info) << "making a self-signed certificate in " << stateDir
                   << " (gateway.tls.cert/key are not set)";
    }

    if (::mkdir(stateDir.c_str(), 0700) != 0 && errno != EEXIST) {
        *error = "state_dir " + stateDir + ": " + std::strerror(errno);
        return std::nullopt;
    }
    identity.key = generateRsaKey(error);
    if (!identity.key)
        return std::nullopt;
    identity.cert = makeSelfSigned(identity.key.get(), names, error);
    if (!identity.cert)
        return std::nullopt;

    auto keyPem = toPem([&](BIO* bio) {
        return PEM_write_bio_PrivateKey(bio, identity.key.get(), nullptr, nullptr, 0, nullptr,
                                        nullptr) == 1;
    });
    const auto certPem =
        toPem([&](BIO* bio) { return PEM_write_bio_X509(bio, identity.cert.get()) == 1; });
    if (!keyPem || !certPem) {
        *error = "self-signed certificate: " + net::takeOpensslError();
        return std::nullopt;
    }
    UnwrittenIdentity files;
    files.stateDir = stateDir;
    files.keyPem = std::move(*keyPem);
    files.certPem = *certPem;
    OPENSSL_cleanse(keyPem->data(), keyPem->size());
    if (unwritten != nullptr) {
        unwritten->emplace(std::move(files));
        return identity;
    }
    if (!writeSelfSigned(files, error))
        return std::nullopt;
    return identity;
}

}  // namespace

UnwrittenIdentity::~UnwrittenIdentity() {
    OPENSSL_cleanse(keyPem.data(), keyPem.size());
}

bool writeSelfSigned(const UnwrittenIdentity& files, std::string* error) {
    // Key first: a crash between the two renames leaves a new key with the old certificate,
    // which the next start sees as a mismatch and remakes.
    return net::writeFileAtomically(files.stateDir, kSelfSignedKeyFile, files.keyPem, 0600,
                                    error) &&
           net::writeFileAtomically(files.stateDir, kSelfSignedCertFile, files.certPem, 0644,
                                    error);
}

std::vector<std::string> selfSignedNames(const config::InterceptConfig& intercept) {
    std::vector<std::string> names = intercept.names;
    names.emplace_back(kCommonName);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

net::SslCtxPtr makeServerContext(const config::GatewayConfig& gateway,
                                 const config::InterceptConfig& intercept,
                                 const std::string& stateDir, std::string* error,
                                 std::optional<UnwrittenIdentity>* unwritten) {
    const config::TlsConfig& tls = gateway.tls;
    const auto minVersion = protocolVersion(tls.minVersion);
    if (!minVersion) {
        *error = "gateway.tls.min_version: \"" + tls.minVersion + "\" is not 1.0, 1.1, 1.2 or 1.3";
        return nullptr;
    }
    if (tls.cert.has_value() != tls.key.has_value()) {
        *error =
            "gateway.tls: cert and key go together (set both, or neither for a self-signed "
            "certificate)";
        return nullptr;
    }

    ERR_clear_error();
    net::SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), *minVersion) != 1) {
        *error = "TLS server context: " + net::takeOpensslError();
        return nullptr;
    }
    SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                                       SSL_OP_NO_RENEGOTIATION);
    if (*minVersion < TLS1_2_VERSION) {
        // OpenSSL 3 refuses TLS < 1.2 (SHA-1/MD5 handshake signatures) and CBC-SHA suites at
        // security level 1 and up; Debian's default is 2. Lowered for this context only.
        SSL_CTX_set_security_level(ctx.get(), 0);
        if (SSL_CTX_set_cipher_list(ctx.get(), kLegacyCiphers) != 1) {
            *error = "TLS server context: legacy cipher list: " + net::takeOpensslError();
            return nullptr;
        }
    }

    if (tls.cert) {
        if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert->c_str()) != 1) {
            *error = "gateway.tls.cert " + *tls.cert + ": " + net::takeOpensslError();
            return nullptr;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key->c_str(), SSL_FILETYPE_PEM) != 1) {
            *error = "gateway.tls.key " + *tls.key + ": " + net::takeOpensslError();
            return nullptr;
        }
    } else {
        auto identity = loadOrMakeSelfSigned(intercept, stateDir, error, unwritten);
        if (!identity)
            return nullptr;
        if (SSL_CTX_use_certificate(ctx.get(), identity->cert.get()) != 1 ||
            SSL_CTX_use_PrivateKey(ctx.get(), identity->key.get()) != 1) {
            *error = "self-signed certificate: " + net::takeOpensslError();
            return nullptr;
        }
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
        *error = "gateway.tls: certificate and key do not match: " + net::takeOpensslError();
        return nullptr;
    }
    return ctx;
}

}  // namespace dynamo::gateway
