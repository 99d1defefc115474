#pragma once
// One-line texts for system and OpenSSL errors, for log lines and config/start-up errors.

#include <cerrno>
#include <string>
#include <string_view>

namespace dynamo::net {

// strerror(error).
std::string errnoText(int error);
// "<what> <path>: <strerror(error)>", e.g. "cannot write /var/lib/x/state.yaml.tmp: No space
// left on device". Defaults to the current errno.
std::string fileErrorText(std::string_view what, std::string_view path, int error = errno);
// The text of one OpenSSL error code (ERR_get_error() and friends).
std::string opensslErrorText(unsigned long code);
// The newest error on this thread's OpenSSL queue, which is then cleared so the next failure
// is not reported with this one's text; "unknown OpenSSL error" when the queue is empty.
std::string takeOpensslError();

}  // namespace dynamo::net
