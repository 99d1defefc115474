// dynamo-gateway: a DNS forwarder that answers members.dyndns.org with its own address, and the
// DynDNS update gateway behind it (docs/operations.md#command-line for the command line).

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "gateway/app/daemon.h"
#include "gateway/app/test_notify.h"
#include "gateway/setup/admin_password.h"
#include "gateway/setup/config_file.h"
#include "gateway/setup/config_text.h"
#include "net/log.h"
#include "version.h"

namespace {

constexpr const char* kUsage =
    "Usage: dynamo-gateway --config FILE [--check | --test-notify | --set-admin-password]\n"
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
    "  --set-admin-password\n"
    "                 read a new password for the /setup page from standard input (twice,\n"
    "                 without echo, on a terminal) and write its hash into FILE as\n"
    "                 gateway.admin_password_hash; the running daemon needs a reload\n"
    "  --version      print the version\n"
    "  --help         print this help\n"
    "\n"
    "Signals: SIGHUP reloads FILE (an invalid file is refused, the old one stays),\n"
    "SIGTERM and SIGINT stop after saving state.\n";

// One line from standard input, without its line end; on a terminal without echo, after prompt.
std::optional<std::string> readSecretLine(const char* prompt) {
    const bool tty = ::isatty(STDIN_FILENO) == 1;
    termios saved{};
    if (tty) {
        std::cerr << prompt << std::flush;
        if (::tcgetattr(STDIN_FILENO, &saved) == 0) {
            termios quiet = saved;
            quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
            ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        }
    }
    std::string line;
    const bool got = static_cast<bool>(std::getline(std::cin, line));
    if (tty) {
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        std::cerr << "\n";
    }
    if (!got && line.empty())
        return std::nullopt;
    if (!line.empty() && line.back() == '\r')
        line.pop_back();
    return line;
}

int setAdminPassword(const std::string& configPath) {
    using namespace dynamo;
    const auto password = readSecretLine("New administrator password for /setup: ");
    if (!password) {
        std::cerr << "dynamo-gateway: no password on standard input\n";
        return gateway::kExitFailure;
    }
    if (const std::string problem = gateway::adminPasswordProblem(*password); !problem.empty()) {
        std::cerr << "dynamo-gateway: the password is " << problem << "\n";
        return gateway::kExitFailure;
    }
    if (::isatty(STDIN_FILENO) == 1) {
        const auto again = readSecretLine("The same again: ");
        if (!again || *again != *password) {
            std::cerr << "dynamo-gateway: the two passwords differ; nothing was changed\n";
            return gateway::kExitFailure;
        }
    }
    const auto hash = gateway::hashAdminPassword(*password);
    if (!hash || !gateway::verifyAdminPassword(*password, *hash)) {
        std::cerr << "dynamo-gateway: libcrypt could not hash the password\n";
        return gateway::kExitFailure;
    }
    const auto result = gateway::editConfigFile(
        configPath,
        [&](const std::string& text, std::string* error) {
            return gateway::setGatewayKey(text, "admin_password_hash", gateway::yamlQuoted(*hash),
                                          error);
        },
        [&](const config::Config& next, std::vector<std::string>& errors) {
            if (next.gateway.adminPasswordHash != *hash)
                errors.push_back(configPath +
                                 ": gateway.admin_password_hash could not be written there; "
                                 "add it by hand");
        });
    if (!result.written) {
        for (const auto& problem : result.errors)
            std::cerr << problem << "\n";
        std::cerr << "dynamo-gateway: nothing was changed\n";
        return gateway::kExitFailure;
    }
    std::cout << "gateway.admin_password_hash written to " << configPath
              << "; reload the daemon (systemctl reload dynamo-gateway) to use it\n";
    return gateway::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace dynamo;
    std::string configPath;
    bool check = false;
    bool testNotify = false;
    bool setPassword = false;
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
        } else if (arg == "--set-admin-password") {
            setPassword = true;
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

    if (setPassword)
        return setAdminPassword(configPath);

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
