#pragma once
// Reading and replacing the configuration file for /setup and --set-admin-password: an edit of
// its text (config_text.h) is checked with config::parse() — the checks of --check — and only
// then written atomically (net/atomic_file.h) with the file's own mode, owner and group.
// Blocking file I/O, on the event loop on purpose: the page answers once the file is on disk.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace dynamo::gateway {

// The file's text; nullopt with *error (one line naming the file) when it cannot be read.
std::optional<std::string> readConfigText(const std::string& path, std::string* error);

struct ConfigEditResult {
    bool written = false;
    std::optional<config::Config> config;  // the new file's, when it was valid
    // The problems that refused the edit: config::parse()'s "file:line: key: problem" lines,
    // or one line about the file itself.
    std::vector<std::string> errors;
};

// Reads path, applies edit to its text, parses the result as --check would and, when it is
// valid and accepted by check (which may add errors, e.g. "the edit did not take"), replaces the
// file. The current file must itself be valid: an edit is never mixed with an older problem.
ConfigEditResult editConfigFile(
    const std::string& path,
    const std::function<std::optional<std::string>(const std::string&, std::string*)>& edit,
    const std::function<void(const config::Config&, std::vector<std::string>&)>& check,
    const config::Environment& environment = {});

}  // namespace dynamo::gateway
