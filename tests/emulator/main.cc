// dynamo-emulator: a stand-in for KisoLabs' DNS Dynamo token API (docs/token-api.md#the-emulator)
// on loopback, for the integration tests and `make run`. The rules live in token_service.h, the
// HTTP side and the control API in emulator_server.h, the tokens file format in tokens_file.h.
//
//   dynamo-emulator --listen 127.0.0.1:PORT [--tls-cert F --tls-key K] [--tokens FILE]
//                   [--window SECONDS] [--timeout SECONDS] [--ready-file F]
//
// Once listening it prints exactly one line, "listening ADDR:PORT", to stdout (flushed) and
// with --ready-file writes the port to F (atomically, via rename), so tests wait for that
// instead of sleeping. SIGTERM/SIGINT stop it cleanly (exit 0). Exit 2: bad command line or
// tokens file; exit 1: cannot start (bind, TLS files).

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "net/handles.h"
#include "net/log.h"
#include "net/socket_address.h"
#include "tests/emulator/emulator_server.h"
#include "tests/emulator/token_service.h"
#include "tests/emulator/tokens_file.h"

namespace {

using namespace dynamo;

constexpr const char* kUsage =
    "usage: dynamo-emulator --listen ADDR:PORT [--tls-cert FILE --tls-key FILE]\n"
    "                       [--tokens FILE] [--window SECONDS] [--timeout SECONDS]\n"
    "                       [--ready-file FILE]\n"
    "PORT 0 picks a free port; the chosen address is printed as \"listening ADDR:PORT\".\n";

struct Options {
    emulator::ServerOptions server;
    std::string tokensFile;
    std::string readyFile;
    double window = 300;
};

int usageError(const std::string& problem) {
    std::cerr << "dynamo-emulator: " << problem << "\n" << kUsage;
    return 2;
}

// "127.0.0.1:0" as well: SocketAddress::parse refuses port 0, which only a listener wants.
std::optional<net::SocketAddress> parseListen(std::string_view text) {
    if (text.ends_with(":0")) {
        auto address = net::SocketAddress::parse(text.substr(0, text.size() - 2), 1);
        if (!address)
            return std::nullopt;
        return net::SocketAddress(address->ip(), 0);
    }
    auto address = net::SocketAddress::parse(text, 0);
    if (!address || address->port() == 0)
        return std::nullopt;
    return address;
}

std::optional<double> parseSeconds(const std::string& text) {
    try {
        size_t used = 0;
        const double value = std::stod(text, &used);
        if (used != text.size() || !(value >= 0) || value > 86400)
            return std::nullopt;
        return value;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// Returns 0 to go on, otherwise the exit status.
int parseArgs(int argc, char** argv, Options& options) {
    bool haveListen = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            return -1;
        }
        if (i + 1 >= argc)
            return usageError(std::string(arg) + ": missing value");
        const std::string value = argv[++i];
        if (arg == "--listen") {
            auto address = parseListen(value);
            if (!address)
                return usageError("--listen: expected ADDR:PORT, got \"" + value + "\"");
            options.server.listen = *address;
            haveListen = true;
        } else if (arg == "--tls-cert") {
            options.server.tlsCert = value;
        } else if (arg == "--tls-key") {
            options.server.tlsKey = value;
        } else if (arg == "--tokens") {
            options.tokensFile = value;
        } else if (arg == "--ready-file") {
            options.readyFile = value;
        } else if (arg == "--window") {
            auto seconds = parseSeconds(value);
            if (!seconds)
                return usageError("--window: expected seconds, got \"" + value + "\"");
            options.window = *seconds;
        } else if (arg == "--timeout") {
            auto seconds = parseSeconds(value);
            if (!seconds || *seconds < 1) {
                return usageError("--timeout: expected seconds >= 1, got \"" + value + "\"");
            }
            options.server.timeoutSeconds = static_cast<int>(*seconds);
        } else {
            return usageError("unknown option " + std::string(arg));
        }
    }
    if (!haveListen)
        return usageError("--listen is required");
    if (options.server.tlsCert.empty() != options.server.tlsKey.empty()) {
        return usageError("--tls-cert and --tls-key go together");
    }
    return 0;
}

bool writeReadyFile(const std::string& path, uint16_t port) {
    const std::string temporary = path + ".tmp";
    {
        std::ofstream file(temporary, std::ios::trunc);
        file << port << "\n";
        if (!file.flush())
            return false;
    }
    return std::rename(temporary.c_str(), path.c_str()) == 0;
}

void onStopSignal(evutil_socket_t /*fd*/, short /*events*/, void* arg) {
    event_base_loopbreak(static_cast<event_base*>(arg));
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    if (const int status = parseArgs(argc, argv, options); status != 0) {
        return status < 0 ? 0 : status;
    }

    emulator::TokenService service(options.window);
    if (!options.tokensFile.empty()) {
        const emulator::TokensFile tokens = emulator::loadTokensFile(options.tokensFile);
        if (!tokens.error.empty()) {
            std::cerr << "dynamo-emulator: " << tokens.error << "\n";
            return 2;
        }
        for (const auto& entry : tokens.entries) {
            service.setToken(entry.token, entry.mode);
            if (!entry.address.empty())
                service.setAddress(entry.token, entry.address);
        }
    }

    // A client that goes away mid-answer (and every `drop`) must cost a failed write, not the
    // process.
    std::signal(SIGPIPE, SIG_IGN);

    net::EventBasePtr base(event_base_new());
    if (!base) {
        std::cerr << "dynamo-emulator: cannot create the event loop\n";
        return 1;
    }
    net::EventPtr sigterm(evsignal_new(base.get(), SIGTERM, &onStopSignal, base.get()));
    net::EventPtr sigint(evsignal_new(base.get(), SIGINT, &onStopSignal, base.get()));
    if (!sigterm || !sigint || evsignal_add(sigterm.get(), nullptr) != 0 ||
        evsignal_add(sigint.get(), nullptr) != 0) {
        std::cerr << "dynamo-emulator: cannot install signal handlers\n";
        return 1;
    }

    {
        emulator::EmulatorServer server(base.get(), service);
        if (const std::string error = server.start(options.server); !error.empty()) {
            std::cerr << "dynamo-emulator: " << error << "\n";
            return 1;
        }
        const net::SocketAddress& bound = server.boundAddress();
        // The ready file first: whoever sees the line may rely on the file being there too.
        if (!options.readyFile.empty() && !writeReadyFile(options.readyFile, bound.port())) {
            std::cerr << "dynamo-emulator: " << options.readyFile << ": cannot write\n";
            return 1;
        }
        std::cout << "listening " << bound.toString() << std::endl;  // endl: flushed, on purpose
        DLOG(Info) << "emulating the token API on "
                   << (options.server.tlsCert.empty() ? "http" : "https") << "://"
                   << bound.toString() << "/ (window " << options.window << " s)";
        event_base_dispatch(base.get());
    }  // the server lets go of pending slow calls and its connections before the loop goes
    DLOG(Info) << "stopped";
    return 0;
}
