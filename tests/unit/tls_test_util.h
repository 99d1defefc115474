#pragma once
// Certificates in tests: which one a context holds or a server sent, told by its serial number.

#include <openssl/bn.h>
#include <openssl/x509.h>

#include <string>

namespace dynamo::test {

// The certificate's serial number in hex.
inline std::string certificateSerial(const X509* cert) {
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
    char* hex = BN_bn2hex(bn);
    std::string out(hex);
    OPENSSL_free(hex);
    BN_free(bn);
    return out;
}

}  // namespace dynamo::test
