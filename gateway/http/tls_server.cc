#include "gateway/http/tls_server.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <optional>
#include <string_view>

#include "net/atomic_file.h"
#include "net/error_text.h"
#include "net/handles.h"
#include "net/log.h"
#include "net/small_file.h"

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

// A configured PEM file larger than this is no certificate chain or key.
constexpr size_t kMaxPemBytes = 1024 * 1024;

// Not OPENSSL_cleanse: the daemon wipes keys without calling into libcrypto, which would not
// be initialised by it but is kept out of the idle process altogether.
void wipe(std::string& text) {
    ::explicit_bzero(text.data(), text.size());
}

std::string joinPath(const std::string& dir, const char* name) {
    if (!dir.empty() && dir.back() == '/')
        return dir + name;
    return dir + "/" + name;
}

// gateway.tls.min_version as OpenSSL's constant; nullopt and *error when it names none.
std::optional<int> protocolVersion(const std::string& name, std::string* error) {
    if (name == "1.0")
        return TLS1_VERSION;
    if (name == "1.1")
        return TLS1_1_VERSION;
    if (name == "1.2")
        return TLS1_2_VERSION;
    if (name == "1.3")
        return TLS1_3_VERSION;
    *error = "gateway.tls.min_version: \"" + name + "\" is not 1.0, 1.1, 1.2 or 1.3";
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

// The PEM texts of a loaded or new self-signed identity.
std::optional<ServerIdentity> toServerIdentity(const Identity& identity, std::string* error) {
    auto keyPem = toPem([&](BIO* bio) {
        return PEM_write_bio_PrivateKey(bio, identity.key.get(), nullptr, nullptr, 0, nullptr,
                                        nullptr) == 1;
    });
    const auto certPem =
        toPem([&](BIO* bio) { return PEM_write_bio_X509(bio, identity.cert.get()) == 1; });
    if (!keyPem || !certPem) {
        if (keyPem)
            wipe(*keyPem);
        *error = "self-signed certificate: " + net::takeOpensslError();
        return std::nullopt;
    }
    ServerIdentity out;
    out.keyPem = std::move(*keyPem);
    wipe(*keyPem);  // whatever a move left behind
    out.certPem = *certPem;
    return out;
}

// The self-signed certificate in state_dir, or a new one; a new one is left in *made, never
// written here.
std::optional<ServerIdentity> loadOrMakeSelfSigned(const config::InterceptConfig& intercept,
                                                   const std::string& stateDir, std::string* error,
                                                   std::optional<UnwrittenIdentity>* made) {
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
            auto out = toServerIdentity(identity, error);
            if (out) {
                out->certSource = "self-signed certificate " + certPath;
                out->keySource = "self-signed key " + keyPath;
            }
            return out;
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
    auto out = toServerIdentity(identity, error);
    if (!out)
        return std::nullopt;
    out->certSource = "self-signed certificate " + certPath;
    out->keySource = "self-signed key " + keyPath;
    made->emplace();
    (*made)->stateDir = stateDir;
    (*made)->keyPem = out->keyPem;
    (*made)->certPem = out->certPem;
    return out;
}

// A configured PEM file, whole, into *out.
bool readPemFile(const std::string& path, const std::string& what, std::string* out,
                 std::string* error) {
    net::SmallFile file = net::readSmallFile(path, kMaxPemBytes);
    switch (file.status) {
        case net::SmallFile::Status::Read:
            *out = std::move(file.text);
            return true;
        case net::SmallFile::Status::TooLarge:
            *error = what + " " + path + ": larger than 1 MiB, not a PEM file";
            return false;
        case net::SmallFile::Status::Missing:
        case net::SmallFile::Status::Failed:
            break;
    }
    *error = net::fileErrorText(what, path, file.error);
    return false;
}

// What the context is made from: the configured files read, or the self-signed ones loaded or
// made (then also in *made, not written).
std::optional<ServerIdentity> readIdentity(const config::GatewayConfig& gateway,
                                           const config::InterceptConfig& intercept,
                                           const std::string& stateDir, std::string* error,
                                           std::optional<UnwrittenIdentity>* made) {
    const config::TlsConfig& tls = gateway.tls;
    // Before a key is made for nothing.
    if (!protocolVersion(tls.minVersion, error))
        return std::nullopt;
    if (tls.cert.has_value() != tls.key.has_value()) {
        *error =
            "gateway.tls: cert and key go together (set both, or neither for a self-signed "
            "certificate)";
        return std::nullopt;
    }
    std::optional<ServerIdentity> identity;
    if (tls.cert) {
        identity.emplace();
        identity->certSource = "gateway.tls.cert " + *tls.cert;
        identity->keySource = "gateway.tls.key " + *tls.key;
        if (!readPemFile(*tls.cert, "gateway.tls.cert", &identity->certPem, error) ||
            !readPemFile(*tls.key, "gateway.tls.key", &identity->keyPem, error))
            return std::nullopt;
    } else {
        identity = loadOrMakeSelfSigned(intercept, stateDir, error, made);
        if (!identity)
            return std::nullopt;
    }
    identity->minVersion = tls.minVersion;
    return identity;
}

// A self-signed identity made by readIdentity(): to the caller when it asked for it, else
// written now.
bool storeMade(std::optional<UnwrittenIdentity>& made, std::optional<UnwrittenIdentity>* unwritten,
               std::string* error) {
    if (!made)
        return true;
    if (unwritten != nullptr) {
        unwritten->emplace(*made);
        return true;
    }
    return writeSelfSigned(*made, error);
}

// The certificate first, then the rest of its chain, as SSL_CTX_use_certificate_chain_file()
// reads a file.
bool useCertificateChain(SSL_CTX* ctx, const std::string& pem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio)
        return false;
    net::X509Ptr leaf(PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr));
    if (!leaf || SSL_CTX_use_certificate(ctx, leaf.get()) != 1 ||
        SSL_CTX_clear_chain_certs(ctx) != 1)
        return false;
    for (;;) {
        net::X509Ptr next(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!next)
            break;
        if (SSL_CTX_add0_chain_cert(ctx, next.get()) != 1)
            return false;
        next.release();  // the context owns it now
    }
    // The end of the text reads as "no start line"; anything else is a broken certificate.
    const unsigned long last = ERR_peek_last_error();
    if (ERR_GET_LIB(last) != ERR_LIB_PEM || ERR_GET_REASON(last) != PEM_R_NO_START_LINE)
        return false;
    ERR_clear_error();
    return true;
}

// An encrypted key is refused rather than prompted for: a daemon has nobody to ask.
int noPassword(char*, int, int, void*) {
    return -1;
}

// --- the check in a child process ---------------------------------------------------------

// The child's answer on the pipe: 'Y' or 'N', 'M' when it made a new self-signed identity
// ('-' otherwise), then length-prefixed fields: the error, or what ServerIdentity holds.
void appendField(std::string& out, std::string_view field) {
    const auto size = static_cast<uint32_t>(field.size());
    out.append(reinterpret_cast<const char*>(&size), sizeof size);
    out.append(field);
}

bool takeField(std::string_view& in, std::string* field) {
    uint32_t size = 0;
    if (in.size() < sizeof size)
        return false;
    std::memcpy(&size, in.data(), sizeof size);
    in.remove_prefix(sizeof size);
    if (in.size() < size)
        return false;
    field->assign(in.data(), size);
    in.remove_prefix(size);
    return true;
}

bool writeAll(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t put = ::write(fd, data.data(), data.size());
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return false;
        data.remove_prefix(static_cast<size_t>(put));
    }
    return true;
}

[[noreturn]] void runCheck(const config::GatewayConfig& gateway,
                           const config::InterceptConfig& intercept, const std::string& stateDir,
                           int fd) {
    // The loop's signal handlers write to the parent's libevent pipe: a SIGTERM for the whole
    // service (systemd signals every process of the unit) simply ends the check.
    for (const int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD})
        std::signal(sig, SIG_DFL);
    std::string error;
    std::optional<UnwrittenIdentity> made;
    std::optional<ServerIdentity> identity =
        readIdentity(gateway, intercept, stateDir, &error, &made);
    if (identity && !makeServerContext(*identity, &error))
        identity.reset();
    std::string answer;
    if (identity) {
        answer = made ? "YM" : "Y-";
        for (const std::string* field :
             {&identity->minVersion, &identity->certPem, &identity->keyPem, &identity->certSource,
              &identity->keySource})
            appendField(answer, *field);
    } else {
        answer = "N-";
        appendField(answer, error);
    }
    const bool sent = writeAll(fd, answer);
    wipe(answer);
    // No destructors, no atexit handlers, no stdio flushes: all of those are the parent's.
    ::_exit(sent ? 0 : 1);
}

}  // namespace

UnwrittenIdentity::~UnwrittenIdentity() {
    wipe(keyPem);
}

ServerIdentity::~ServerIdentity() {
    wipe(keyPem);
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
    std::optional<UnwrittenIdentity> made;
    const auto identity = readIdentity(gateway, intercept, stateDir, error, &made);
    if (!identity)
        return nullptr;
    net::SslCtxPtr ctx = makeServerContext(*identity, error);
    if (!ctx || !storeMade(made, unwritten, error))
        return nullptr;
    return ctx;
}

net::SslCtxPtr makeServerContext(const ServerIdentity& identity, std::string* error) {
    const auto minVersion = protocolVersion(identity.minVersion, error);
    if (!minVersion)
        return nullptr;
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

    if (!useCertificateChain(ctx.get(), identity.certPem)) {
        *error = identity.certSource + ": " + net::takeOpensslError();
        return nullptr;
    }
    BioPtr keyBio(
        BIO_new_mem_buf(identity.keyPem.data(), static_cast<int>(identity.keyPem.size())));
    net::EvpPkeyPtr key(
        keyBio ? PEM_read_bio_PrivateKey(keyBio.get(), nullptr, &noPassword, nullptr) : nullptr);
    if (!key || SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1) {
        *error = identity.keySource + ": " + net::takeOpensslError();
        return nullptr;
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
        *error = "gateway.tls: certificate and key do not match: " + net::takeOpensslError();
        return nullptr;
    }
    return ctx;
}

std::optional<ServerIdentity> checkServerIdentity(const config::GatewayConfig& gateway,
                                                  const config::InterceptConfig& intercept,
                                                  const std::string& stateDir, std::string* error,
                                                  std::optional<UnwrittenIdentity>* unwritten) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) {
        *error = "TLS certificate check: pipe: " + net::errnoText(errno);
        return std::nullopt;
    }
    net::UniqueFd readEnd(ends[0]);
    net::UniqueFd writeEnd(ends[1]);
    const pid_t pid = ::fork();
    if (pid < 0) {
        *error = "TLS certificate check: fork: " + net::errnoText(errno);
        return std::nullopt;
    }
    if (pid == 0)
        runCheck(gateway, intercept, stateDir, writeEnd.get());
    writeEnd.reset();  // EOF once the child is gone

    std::string answer;
    char buffer[16384];
    bool readFailed = false;
    for (;;) {
        const ssize_t got = ::read(readEnd.get(), buffer, sizeof buffer);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            readFailed = got < 0;
            break;
        }
        answer.append(buffer, static_cast<size_t>(got));
    }
    ::explicit_bzero(buffer, sizeof buffer);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            wipe(answer);
            *error = "TLS certificate check: waitpid: " + net::errnoText(errno);
            return std::nullopt;
        }
    }
    if (WIFSIGNALED(status)) {
        wipe(answer);
        const int sig = WTERMSIG(status);
        *error = "TLS certificate check: its process " + std::to_string(pid) +
                 " was killed by signal " + std::to_string(sig) + " (" + ::strsignal(sig) + ")";
        return std::nullopt;
    }

    std::optional<ServerIdentity> identity;
    std::string_view in(answer);
    bool complete = !readFailed && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                    in.size() >= 2 && (in[0] == 'Y' || in[0] == 'N');
    const bool ok = complete && in[0] == 'Y';
    const bool made = complete && in[1] == 'M';
    if (complete)
        in.remove_prefix(2);
    if (ok) {
        identity.emplace();
        complete = takeField(in, &identity->minVersion) && takeField(in, &identity->certPem) &&
                   takeField(in, &identity->keyPem) && takeField(in, &identity->certSource) &&
                   takeField(in, &identity->keySource) && in.empty();
    } else if (complete) {
        complete = takeField(in, error) && in.empty();
    }
    wipe(answer);
    if (!complete) {
        *error = "TLS certificate check: its process " + std::to_string(pid) + " exited (status " +
                 std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                 ") without an answer";
        return std::nullopt;
    }
    if (!ok)
        return std::nullopt;
    if (made) {
        std::optional<UnwrittenIdentity> files;
        files.emplace();
        files->stateDir = stateDir;
        files->keyPem = identity->keyPem;
        files->certPem = identity->certPem;
        if (!storeMade(files, unwritten, error))
            return std::nullopt;
    }
    return identity;
}

}  // namespace dynamo::gateway
