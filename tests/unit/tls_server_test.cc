// The HTTPS listener's TLS context: the self-signed certificate made in state_dir (names, key
// mode, reuse, remake), configured PEM files, and the protocol floor, checked with in-process
// handshakes over a BIO pair (no sockets).

#include "gateway/http/tls_server.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "net/small_file.h"
#include "tls_test_util.h"

namespace dynamo::gateway {
namespace {

using BioPtr = net::Handle<BIO, BIO_free_all>;

class TempDir {
  public:
    TempDir() {
        char pattern[] = "/tmp/tls_server_test.XXXXXX";
        path_ = ::mkdtemp(pattern);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    const std::string& path() const { return path_; }
    std::string file(const char* name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

net::X509Ptr readCert(const std::string& path) {
    BioPtr bio(BIO_new_file(path.c_str(), "r"));
    return net::X509Ptr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

std::vector<std::string> dnsNames(X509* cert) {
    std::vector<std::string> names;
    auto* sans =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
        if (name->type == GEN_DNS) {
            names.emplace_back(
                reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                static_cast<size_t>(ASN1_STRING_length(name->d.dNSName)));
        }
    }
    GENERAL_NAMES_free(sans);
    std::sort(names.begin(), names.end());
    return names;
}

// A client handshake against `server` over a BIO pair. The client trusts nothing (it only
// cares whether a session is agreed on), and is as old as asked for.
struct Handshake {
    bool ok = false;
    int version = 0;
    std::string cipher;
};

Handshake handshake(SSL_CTX* server, int clientMaxVersion, const char* clientCiphers = nullptr) {
    net::SslCtxPtr clientCtx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_security_level(clientCtx.get(), 0);  // a 2010 client: no level checks
    SSL_CTX_set_min_proto_version(clientCtx.get(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(clientCtx.get(), clientMaxVersion);
    if (clientCiphers != nullptr)
        SSL_CTX_set_cipher_list(clientCtx.get(), clientCiphers);
    net::SslPtr client(SSL_new(clientCtx.get()));
    net::SslPtr serverSsl(SSL_new(server));
    BIO* clientBio = nullptr;
    BIO* serverBio = nullptr;
    BIO_new_bio_pair(&clientBio, 0, &serverBio, 0);
    SSL_set_bio(client.get(), clientBio, clientBio);
    SSL_set_bio(serverSsl.get(), serverBio, serverBio);
    SSL_set_connect_state(client.get());
    SSL_set_accept_state(serverSsl.get());

    bool clientDone = false;
    bool serverDone = false;
    for (int round = 0; round < 20 && !(clientDone && serverDone); ++round) {
        const int c = SSL_do_handshake(client.get());
        const int s = SSL_do_handshake(serverSsl.get());
        clientDone = c == 1;
        serverDone = s == 1;
        const auto failed = [](SSL* ssl, int rc) {
            const int error = SSL_get_error(ssl, rc);
            return rc != 1 && error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE;
        };
        if (failed(client.get(), c) || failed(serverSsl.get(), s))
            break;
    }
    ERR_clear_error();
    Handshake result;
    result.ok = clientDone && serverDone;
    if (result.ok) {
        result.version = SSL_version(serverSsl.get());
        result.cipher = SSL_get_cipher_name(serverSsl.get());
    }
    return result;
}

config::InterceptConfig interceptNames(std::vector<std::string> names) {
    config::InterceptConfig intercept;
    intercept.names = std::move(names);
    return intercept;
}

config::GatewayConfig gatewayWith(const std::string& minVersion) {
    config::GatewayConfig gateway;
    gateway.tls.minVersion = minVersion;
    return gateway;
}

TEST(TlsServerTest, FirstStartMakesASelfSignedCertificateWithEveryInterceptedName) {
    TempDir dir;
    std::string error;
    const auto intercept = interceptNames({"members.dyndns.com", "*.dyndns.org", "nic.example"});
    auto ctx = makeServerContext(gatewayWith("1.2"), intercept, dir.path(), &error);
    ASSERT_TRUE(ctx) << error;

    auto cert = readCert(dir.file(kSelfSignedCertFile));
    ASSERT_TRUE(cert);
    EXPECT_EQ(dnsNames(cert.get()),
              (std::vector<std::string>{"*.dyndns.org", "members.dyndns.com", "members.dyndns.org",
                                        "nic.example"}));
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn);
    EXPECT_STREQ(cn, "members.dyndns.org");
    EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_sha256WithRSAEncryption);
    EVP_PKEY* key = X509_get0_pubkey(cert.get());
    EXPECT_EQ(EVP_PKEY_get_base_id(key), EVP_PKEY_RSA);
    EXPECT_EQ(EVP_PKEY_get_bits(key), 2048);
    // Valid for about 10 years.
    int days = 0;
    int seconds = 0;
    ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert.get()),
                   X509_get0_notAfter(cert.get()));
    EXPECT_GE(days, 3650);
    EXPECT_LE(days, 3652);

    struct stat st {};
    ASSERT_EQ(::stat(dir.file(kSelfSignedKeyFile).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_FALSE(std::filesystem::exists(dir.file(kSelfSignedKeyFile) + std::string(".tmp")));
}

TEST(TlsServerTest, TheCertificateVerifiesForTheNamesItCarriesWhenTrustedAsIs) {
    // What a user does with curl --cacert or a device with a pinned certificate.
    TempDir dir;
    std::string error;
    ASSERT_TRUE(
        makeServerContext(gatewayWith("1.2"), interceptNames({"*.dyndns.org"}), dir.path(), &error))
        << error;
    auto cert = readCert(dir.file(kSelfSignedCertFile));
    ASSERT_TRUE(cert);

    for (const char* host : {"members.dyndns.org", "anything.dyndns.org", "other.example"}) {
        net::Handle<X509_STORE, X509_STORE_free> store(X509_STORE_new());
        X509_STORE_add_cert(store.get(), cert.get());
        net::Handle<X509_STORE_CTX, X509_STORE_CTX_free> verify(X509_STORE_CTX_new());
        X509_STORE_CTX_init(verify.get(), store.get(), cert.get(), nullptr);
        X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(verify.get()), host, 0);
        X509_VERIFY_PARAM_set_purpose(X509_STORE_CTX_get0_param(verify.get()),
                                      X509_PURPOSE_SSL_SERVER);
        const bool valid = X509_verify_cert(verify.get()) == 1;
        EXPECT_EQ(valid, std::string(host) != "other.example")
            << host << ": "
            << X509_verify_cert_error_string(X509_STORE_CTX_get_error(verify.get()));
    }
}

TEST(TlsServerTest, ALaterStartReusesTheCertificate) {
    TempDir dir;
    std::string error;
    const auto intercept = interceptNames({"members.dyndns.org", "members.dyndns.com"});
    ASSERT_TRUE(makeServerContext(gatewayWith("1.2"), intercept, dir.path(), &error)) << error;
    const std::string first =
        test::certificateSerial(readCert(dir.file(kSelfSignedCertFile)).get());

    // Same names in another order, a duplicate: the same set.
    const auto again =
        interceptNames({"members.dyndns.com", "members.dyndns.org", "members.dyndns.com"});
    ASSERT_TRUE(makeServerContext(gatewayWith("1.0"), again, dir.path(), &error)) << error;
    EXPECT_EQ(test::certificateSerial(readCert(dir.file(kSelfSignedCertFile)).get()), first);
}

TEST(TlsServerTest, ANewSanSetMakesANewCertificate) {
    TempDir dir;
    std::string error;
    ASSERT_TRUE(makeServerContext(gatewayWith("1.2"), interceptNames({"members.dyndns.org"}),
                                  dir.path(), &error))
        << error;
    const std::string first =
        test::certificateSerial(readCert(dir.file(kSelfSignedCertFile)).get());

    ASSERT_TRUE(makeServerContext(gatewayWith("1.2"), interceptNames({"nic.changeip.com"}),
                                  dir.path(), &error))
        << error;
    auto cert = readCert(dir.file(kSelfSignedCertFile));
    EXPECT_NE(test::certificateSerial(cert.get()), first);
    EXPECT_EQ(dnsNames(cert.get()),
              (std::vector<std::string>{"members.dyndns.org", "nic.changeip.com"}));
}

TEST(TlsServerTest, AKeyThatNoLongerMatchesItsCertificateIsRemade) {
    TempDir dir;
    std::string error;
    TempDir other;
    ASSERT_TRUE(makeServerContext(gatewayWith("1.2"), {}, dir.path(), &error)) << error;
    ASSERT_TRUE(makeServerContext(gatewayWith("1.2"), {}, other.path(), &error)) << error;
    // A crash between the key's rename and the certificate's: new key, old certificate.
    std::filesystem::copy_file(other.file(kSelfSignedKeyFile), dir.file(kSelfSignedKeyFile),
                               std::filesystem::copy_options::overwrite_existing);
    EXPECT_TRUE(makeServerContext(gatewayWith("1.2"), {}, dir.path(), &error)) << error;
}

TEST(TlsServerTest, ConfiguredPemFilesAreUsed) {
    TempDir made;
    std::string error;
    ASSERT_TRUE(makeServerContext(gatewayWith("1.2"), {}, made.path(), &error)) << error;

    TempDir state;
    config::GatewayConfig gateway = gatewayWith("1.2");
    gateway.tls.cert = made.file(kSelfSignedCertFile);
    gateway.tls.key = made.file(kSelfSignedKeyFile);
    auto ctx = makeServerContext(gateway, {}, state.path(), &error);
    ASSERT_TRUE(ctx) << error;
    EXPECT_FALSE(std::filesystem::exists(state.file(kSelfSignedCertFile)));
    EXPECT_EQ(test::certificateSerial(SSL_CTX_get0_certificate(ctx.get())),
              test::certificateSerial(readCert(made.file(kSelfSignedCertFile)).get()));
}

TEST(TlsServerTest, BadSettingsAreOneLineErrors) {
    TempDir dir;
    std::string error;
    config::GatewayConfig gateway = gatewayWith("1.2");
    gateway.tls.cert = dir.file("missing.crt");
    gateway.tls.key = dir.file("missing.key");
    EXPECT_FALSE(makeServerContext(gateway, {}, dir.path(), &error));
    EXPECT_NE(error.find("missing.crt"), std::string::npos) << error;

    gateway.tls.key.reset();
    EXPECT_FALSE(makeServerContext(gateway, {}, dir.path(), &error));
    EXPECT_NE(error.find("together"), std::string::npos) << error;

    EXPECT_FALSE(makeServerContext(gatewayWith("1.4"), {}, dir.path(), &error));
    EXPECT_NE(error.find("min_version"), std::string::npos) << error;

    EXPECT_FALSE(makeServerContext(gatewayWith("1.2"), {}, "/nonexistent/dir/state", &error));
    EXPECT_NE(error.find("/nonexistent/dir/state"), std::string::npos) << error;
}

TEST(TlsServerTest, MinVersion10AcceptsATls10ClientWithAnOldCbcSuite) {
    TempDir dir;
    std::string error;
    auto ctx = makeServerContext(gatewayWith("1.0"), {}, dir.path(), &error);
    ASSERT_TRUE(ctx) << error;

    const Handshake old = handshake(ctx.get(), TLS1_VERSION, "AES128-SHA:@SECLEVEL=0");
    EXPECT_TRUE(old.ok);
    EXPECT_EQ(old.version, TLS1_VERSION);
    EXPECT_EQ(old.cipher, "AES128-SHA");

    const Handshake modern = handshake(ctx.get(), TLS1_3_VERSION);
    EXPECT_TRUE(modern.ok);
    EXPECT_EQ(modern.version, TLS1_3_VERSION);
}

TEST(TlsServerTest, MinVersion11RefusesTls10) {
    TempDir dir;
    std::string error;
    auto ctx = makeServerContext(gatewayWith("1.1"), {}, dir.path(), &error);
    ASSERT_TRUE(ctx) << error;
    EXPECT_FALSE(handshake(ctx.get(), TLS1_VERSION, "AES128-SHA:@SECLEVEL=0").ok);
    EXPECT_EQ(handshake(ctx.get(), TLS1_1_VERSION, "AES128-SHA:@SECLEVEL=0").version,
              TLS1_1_VERSION);
}

TEST(TlsServerTest, MinVersion12RefusesTls10) {
    TempDir dir;
    std::string error;
    auto ctx = makeServerContext(gatewayWith("1.2"), {}, dir.path(), &error);
    ASSERT_TRUE(ctx) << error;
    EXPECT_FALSE(handshake(ctx.get(), TLS1_VERSION, "AES128-SHA:@SECLEVEL=0").ok);
    EXPECT_FALSE(handshake(ctx.get(), TLS1_1_VERSION).ok);
    EXPECT_EQ(handshake(ctx.get(), TLS1_2_VERSION).version, TLS1_2_VERSION);
}

TEST(TlsServerTest, MinVersion13RefusesTls12) {
    TempDir dir;
    std::string error;
    auto ctx = makeServerContext(gatewayWith("1.3"), {}, dir.path(), &error);
    ASSERT_TRUE(ctx) << error;
    EXPECT_FALSE(handshake(ctx.get(), TLS1_2_VERSION).ok);
    EXPECT_EQ(handshake(ctx.get(), TLS1_3_VERSION).version, TLS1_3_VERSION);
}

// --- the check in a child process, and the context made later from memory ------------------

std::string readFile(const std::string& path) {
    return net::readSmallFile(path, 1 << 20).text;
}

TEST(TlsServerTest, TheCheckInAChildMakesAndWritesTheSelfSignedCertificate) {
    TempDir dir;
    std::string error;
    const auto identity = checkServerIdentity(gatewayWith("1.2"), interceptNames({"nic.example"}),
                                              dir.path(), &error);
    ASSERT_TRUE(identity) << error;
    EXPECT_EQ(identity->certPem, readFile(dir.file(kSelfSignedCertFile)));
    EXPECT_EQ(identity->keyPem, readFile(dir.file(kSelfSignedKeyFile)));
    EXPECT_EQ(identity->minVersion, "1.2");
    auto cert = readCert(dir.file(kSelfSignedCertFile));
    ASSERT_TRUE(cert);
    EXPECT_EQ(dnsNames(cert.get()),
              (std::vector<std::string>{"members.dyndns.org", "nic.example"}));

    // The context made from memory serves that certificate.
    auto ctx = makeServerContext(*identity, &error);
    ASSERT_TRUE(ctx) << error;
    EXPECT_EQ(test::certificateSerial(SSL_CTX_get0_certificate(ctx.get())),
              test::certificateSerial(cert.get()));
    EXPECT_EQ(handshake(ctx.get(), TLS1_3_VERSION).version, TLS1_3_VERSION);

    // A second check reuses it.
    const auto again = checkServerIdentity(gatewayWith("1.2"), interceptNames({"nic.example"}),
                                           dir.path(), &error);
    ASSERT_TRUE(again) << error;
    EXPECT_EQ(again->certPem, identity->certPem);
}

TEST(TlsServerTest, TheCheckLeavesANewCertificateUnwrittenWhenAskedTo) {
    TempDir dir;
    std::string error;
    std::optional<UnwrittenIdentity> unwritten;
    const auto identity =
        checkServerIdentity(gatewayWith("1.2"), {}, dir.path(), &error, &unwritten);
    ASSERT_TRUE(identity) << error;
    ASSERT_TRUE(unwritten);
    EXPECT_FALSE(std::filesystem::exists(dir.file(kSelfSignedCertFile)));
    EXPECT_EQ(unwritten->certPem, identity->certPem);
    ASSERT_TRUE(writeSelfSigned(*unwritten, &error)) << error;
    EXPECT_EQ(readFile(dir.file(kSelfSignedCertFile)), identity->certPem);

    // Nothing new made: nothing left to write.
    std::optional<UnwrittenIdentity> none;
    ASSERT_TRUE(checkServerIdentity(gatewayWith("1.2"), {}, dir.path(), &error, &none)) << error;
    EXPECT_FALSE(none);
}

TEST(TlsServerTest, TheCheckReportsTheChildsOneLineErrors) {
    TempDir made;
    TempDir other;
    std::string error;
    ASSERT_TRUE(makeServerContext(gatewayWith("1.2"), {}, made.path(), &error)) << error;
    ASSERT_TRUE(makeServerContext(gatewayWith("1.2"), {}, other.path(), &error)) << error;

    config::GatewayConfig gateway = gatewayWith("1.2");
    gateway.tls.cert = made.file("missing.crt");
    gateway.tls.key = made.file(kSelfSignedKeyFile);
    EXPECT_FALSE(checkServerIdentity(gateway, {}, made.path(), &error));
    EXPECT_NE(error.find("gateway.tls.cert " + made.file("missing.crt")), std::string::npos)
        << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;

    // A key that is not the certificate's.
    gateway.tls.cert = made.file(kSelfSignedCertFile);
    gateway.tls.key = other.file(kSelfSignedKeyFile);
    EXPECT_FALSE(checkServerIdentity(gateway, {}, made.path(), &error));
    EXPECT_NE(error.find(other.file(kSelfSignedKeyFile)), std::string::npos) << error;

    // Not PEM at all.
    const std::string garbage = made.file("garbage.crt");
    FILE* f = std::fopen(garbage.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("not a certificate\n", f);
    std::fclose(f);
    gateway.tls.cert = garbage;
    gateway.tls.key = made.file(kSelfSignedKeyFile);
    EXPECT_FALSE(checkServerIdentity(gateway, {}, made.path(), &error));
    EXPECT_NE(error.find("gateway.tls.cert " + garbage + ": "), std::string::npos) << error;

    EXPECT_FALSE(checkServerIdentity(gatewayWith("1.4"), {}, made.path(), &error));
    EXPECT_NE(error.find("min_version"), std::string::npos) << error;
}

TEST(TlsServerTest, AConfiguredChainIsServedWhole) {
    TempDir made;
    TempDir ca;
    std::string error;
    ASSERT_TRUE(makeServerContext(gatewayWith("1.2"), {}, made.path(), &error)) << error;
    ASSERT_TRUE(makeServerContext(gatewayWith("1.2"), {}, ca.path(), &error)) << error;
    // The leaf, then another certificate standing in for an intermediate.
    const std::string chain = made.file("chain.pem");
    FILE* f = std::fopen(chain.c_str(), "w");
    ASSERT_NE(f, nullptr);
    const std::string text =
        readFile(made.file(kSelfSignedCertFile)) + readFile(ca.file(kSelfSignedCertFile));
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);

    config::GatewayConfig gateway = gatewayWith("1.2");
    gateway.tls.cert = chain;
    gateway.tls.key = made.file(kSelfSignedKeyFile);
    const auto identity = checkServerIdentity(gateway, {}, made.path(), &error);
    ASSERT_TRUE(identity) << error;
    auto ctx = makeServerContext(*identity, &error);
    ASSERT_TRUE(ctx) << error;
    STACK_OF(X509)* extra = nullptr;
    ASSERT_EQ(SSL_CTX_get0_chain_certs(ctx.get(), &extra), 1);
    ASSERT_NE(extra, nullptr);
    EXPECT_EQ(sk_X509_num(extra), 1);
    EXPECT_EQ(test::certificateSerial(sk_X509_value(extra, 0)),
              test::certificateSerial(readCert(ca.file(kSelfSignedCertFile)).get()));
}

TEST(TlsServerTest, ACheckWhoseProcessIsKilledIsAnErrorSayingSo) {
    const std::string children = "/proc/self/task/" + std::to_string(::getpid()) + "/children";
    if (!std::filesystem::exists(children))
        GTEST_SKIP() << children << " is not there (CONFIG_PROC_CHILDREN)";
    TempDir dir;
    // The child blocks opening a FIFO nobody writes to, until it is killed.
    const std::string fifo = dir.file("cert.fifo");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    config::GatewayConfig gateway = gatewayWith("1.2");
    gateway.tls.cert = fifo;
    gateway.tls.key = fifo;

    std::thread killer([children] {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            std::ifstream in(children);
            pid_t child = 0;
            if (in >> child && child > 0) {
                ::kill(child, SIGKILL);
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });
    std::string error;
    const auto identity = checkServerIdentity(gateway, {}, dir.path(), &error);
    killer.join();
    EXPECT_FALSE(identity);
    EXPECT_NE(error.find("killed by signal 9"), std::string::npos) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

}  // namespace
}  // namespace dynamo::gateway
