// dynamo-gateway: a DNS forwarder that answers members.dyndns.org with its own address, and the
// DynDNS update gateway behind it (docs/operations.md#command-line for the command line).

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

#include "config/config.h"
#include "gateway/app/daemon.h"
#include "gateway/app/test_notify.h"
#include "net/log.h"
#include "version.h"

namespace {

constexpr const char* kUsage =
    "Usage: dynamo-gateway --config FILE [--check | --test-notify]\n"
    "       dynamo-gateway --version | --help\n"
    "\n"
    "Answers the LAN's DNS (intercepting members.dyndns.org) and translates DynDNS updates\n"
    "from legacy devices into DNS Dynamo token-API calls.\n"
    "\n"
    "  --config FILE  the YAML configuration (see config/example.yaml)\n"
    "  --check        validate FILE: print every problem as FILE:LINE: key: problem,\n"
    "                 nothing on success; exit 0 when valid, 1 when not\n"
    "  --test-notify  send one 'test' alert on every alerts channel, print one line\n"
    "                 per channel; exit 0 when all were delivered, 1 when not\n"
    "  --version      print the version\n"
    "  --help         print this help\n"
    "\n"
    "Signals: SIGHUP reloads FILE (an invalid file is refused, the old one stays),\n"
    "SIGTERM and SIGINT stop after saving state.\n";

}  // namespace

int main(int argc, char** argv) {
    using namespace dynamo;
    std::string configPath;
    bool check = false;
    bool testNotify = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            return gateway::kExitOk;
        }
        if (arg == "--version" || arg == "-V") {
            std::cout << "dynamo-gateway " << kVersion << "\n";
            return gateway::kExitOk;
        }
        if (arg == "--check") {
            check = true;
        } else if (arg == "--test-notify") {
            testNotify = true;
        } else if (arg == "--config" && i + 1 < argc) {
            configPath = argv[++i];
        } else if (arg.starts_with("--config=")) {
            configPath = std::string(arg.substr(9));
        } else {
            std::cerr << "dynamo-gateway: unknown argument '" << arg << "'\n" << kUsage;
            return gateway::kExitUsage;
        }
    }
    if (configPath.empty()) {
        std::cerr << "dynamo-gateway: --config FILE is required\n" << kUsage;
        return gateway::kExitUsage;
    }

    auto loaded = config::loadFile(configPath);
    if (check) {
        for (const auto& problem : loaded.errors)
            std::cerr << problem << "\n";
        return loaded.config ? gateway::kExitOk : gateway::kExitFailure;
    }
    if (!loaded.config) {
        // One line for the journal: the first problem, and how many more --check would list.
        std::cerr << loaded.errors.front();
        if (loaded.errors.size() > 1) {
            std::cerr << " (and " << loaded.errors.size() - 1 << " more: run with --check)";
        }
        std::cerr << "\n";
        return gateway::kExitConfig;
    }

    if (testNotify)
        return gateway::testNotify(*loaded.config);

    log::setLevel(loaded.config->logLevel);
    for (const auto& warning : loaded.config->warnings)
        DLOG(Warning) << warning;

    gateway::Daemon daemon(configPath, std::move(*loaded.config));
    std::string error;
    if (!daemon.start(&error)) {
        DLOG(Error) << error;
        return gateway::kExitFailure;
    }
    daemon.run();
    return gateway::kExitOk;
}
