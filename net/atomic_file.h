#pragma once
// Replacing a small file so that a crash or power cut at any point leaves either the old file
// or the new one, never a torn one: write a temporary file beside it, fsync it, rename it over
// the old one, fsync the directory (the rename is durable only once the directory entry is).
//
// Blocking I/O, on the event-loop thread on purpose (the callers need the file on disk before
// they answer). Used for state.yaml and the self-signed certificate and key.

#include <sys/types.h>

#include <string>
#include <string_view>

namespace dynamo::net {

// Replaces dir/name with content. The temporary file (dir/name.tmp) is created with exactly
// `mode` (a leftover of a crash, possibly with wider permissions, is removed first) and with
// O_NOFOLLOW|O_EXCL, so a link planted in the directory cannot redirect the write. False with
// *error (one line naming the file) when the new content may not be durable; the old file is
// then intact unless only the final directory fsync failed.
bool writeFileAtomically(const std::string& dir, std::string_view name, std::string_view content,
                         mode_t mode, std::string* error);

}  // namespace dynamo::net
