#pragma once
// The emulator's tokens file: which tokens the fake service knows and how each behaves.
//
// Plain text, one token per line; blank lines and everything after '#' are ignored:
//
//   # token (42 characters)                     mode          stored address (optional)
//   1234567890ABCDEFGHIJKLMNOPQRSTUVWXYZ123456  ok
//   AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA  uper          198.51.100.7
//   BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB  slow:3
//
// Modes (token_service.h): ok (the default when the mode is left out), nr, nd, er, uper,
// http500, garbage, drop, slow or slow:SECONDS (default 5). The optional third field is the
// address the service already holds for the token, so a first call can answer NC.

#include <string>
#include <vector>

#include "tests/emulator/token_service.h"

namespace dynamo::emulator {

struct TokenEntry {
    std::string token;
    ModeSpec mode;
    std::string address;  // empty: none stored yet
};

struct TokensFile {
    std::vector<TokenEntry> entries;
    std::string error;  // "FILE:LINE: problem"; empty on success
};

TokensFile parseTokensText(const std::string& text, const std::string& fileName);
TokensFile loadTokensFile(const std::string& path);

}  // namespace dynamo::emulator
