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

// The same, and the new file gets this owner and group before it replaces the old one (the
// configuration file, edited by /setup and --set-admin-password, keeps the owner the admin
// gave it). No chown is made when the new file already has them (the daemon's own user under
// systemd, which may not call chown at all); when one is needed and refused, nothing is replaced.
bool writeFileAtomically(const std::string& dir, std::string_view name, std::string_view content,
                         mode_t mode, uid_t owner, gid_t group, std::string* error);

}  // namespace dynamo::net
