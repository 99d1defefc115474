// Fuzzes the configuration parser (config::parse(), the text of the YAML file): every key,
// every section, yaml-cpp's own errors. Never crashes; the invariants below abort so the
// fuzzer reports a broken one:
// - exactly one of a Config or errors comes back;
// - every error and warning is one printable line (log::printable() marks a cut with "…", the
//   only non-ASCII it adds), whatever bytes the file holds;
// - a Config has what the daemon relies on: upstreams, the allow list, 42-character tokens.
// The machine is kept out: a resolv.conf path that does not exist, a fixed own address.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "fuzz_check.h"

namespace {

using namespace dynamo;

const config::Environment& environment() {
    static const config::Environment kEnvironment = [] {
        config::Environment environment;
        environment.resolvConfPath = "/nonexistent/dynamo-fuzz/resolv.conf";
        environment.localAddresses =
            std::vector<net::IpAddress>{*net::IpAddress::parse("192.0.2.10")};
        return environment;
    }();
    return kEnvironment;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const config::ParseResult result = config::parse(text, "fuzz.yaml", environment());
    FUZZ_CHECK(result.config.has_value() == result.errors.empty());
    for (const std::string& error : result.errors)
        FUZZ_CHECK(fuzz::isPrintableLogText(error));
    if (!result.config)
        return 0;
    const config::Config& config = *result.config;
    for (const std::string& warning : config.warnings)
        FUZZ_CHECK(fuzz::isPrintableLogText(warning));
    FUZZ_CHECK(!config.dns.upstreams.empty());
    for (const config::Account& account : config.accounts)
        FUZZ_CHECK(account.token.size() == 42 && !account.username.empty());
    return 0;
}
