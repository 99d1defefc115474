#include "net/error_text.h"

#include <openssl/err.h>

#include <cstring>

namespace dynamo::net {

std::string errnoText(int error) {
    return std::strerror(error);
}

std::string fileErrorText(std::string_view what, std::string_view path, int error) {
    std::string text(what);
    text += ' ';
    text += path;
    text += ": ";
    text += std::strerror(error);
    return text;
}

std::string opensslErrorText(unsigned long code) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    return buffer;
}

std::string takeOpensslError() {
    const unsigned long code = ERR_peek_last_error();
    ERR_clear_error();
    return code == 0 ? std::string("unknown OpenSSL error") : opensslErrorText(code);
}

}  // namespace dynamo::net
