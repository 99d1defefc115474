#pragma once
// Edits of the configuration file's text for /setup and --set-admin-password. yaml-cpp cannot
// write a document back with its comments, so these edit lines: each touches only the lines of
// the one key or list entry it changes and keeps every other line, comment and blank line as it
// was. They understand the block layout config/example.yaml uses (and "key: []" / an
// indentless "- " list); anything else (a flow mapping, an anchor) is refused with *error
// rather than guessed at. The caller parses the result with config::parse() and checks it holds
// what was meant before writing it: these functions never validate values. Pure.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace dynamo::gateway {

// text as a YAML double-quoted scalar (YAML 1.2 §7.3.1): \ and " escaped, control characters
// as \xNN; other bytes (UTF-8) as they are.
std::string yamlQuoted(std::string_view text);

// Sets gateway.<key> to value (already YAML): replaces that line, or adds it at the end of the
// gateway section, or adds the section.
std::optional<std::string> setGatewayKey(std::string_view text, std::string_view key,
                                         std::string_view value, std::string* error);

// accounts[index] replaced by account (nullopt removes it). The other entries keep their text.
std::optional<std::string> replaceAccount(std::string_view text, size_t index,
                                          const std::optional<config::Account>& account,
                                          std::string* error);
// account added as the last entry of accounts (the section is added when missing).
std::optional<std::string> appendAccount(std::string_view text, const config::Account& account,
                                         std::string* error);

// dns.upstreams set to these entries (as the owner wrote them: "1.1.1.1", "[::1]:5353"); an
// empty list writes [] (the servers of /etc/resolv.conf).
std::optional<std::string> setUpstreams(std::string_view text,
                                        const std::vector<std::string>& upstreams,
                                        std::string* error);

}  // namespace dynamo::gateway
