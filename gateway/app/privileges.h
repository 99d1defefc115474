#pragma once
// Started as root (outside systemd, or by an init without capabilities), the daemon binds its
// ports and then becomes `run_as`; it never goes on as root when told to drop and cannot.
//
// What is handed to run_as is only what is the daemon's: state_dir itself when the daemon
// created it (or it holds nothing but the daemon's own files), and the files the daemon writes
// there (state.yaml, the self-signed certificate and key, their temporaries). A state_dir set to
// a shared directory ("/var/lib") is never chmod'ed or chowned wholesale.

#include <string>

namespace dynamo::gateway {

// Before the daemon writes anything in an existing state_dir as root: it must be a directory
// owned by root or by `user`, or another user could swap the files under it. No-op unless
// running as root. False with *error (one line) otherwise.
bool checkStateDirOwner(const std::string& path, const std::string& user, std::string* error);

// Gives state_dir's daemon-made files to `user`, and the directory itself when `created` (the
// daemon made it) or when it holds nothing else; refuses (false, *error) a root-owned directory
// that holds other files, which the daemon could not write in after the drop. No-op unless
// running as root.
bool handOver(const std::string& path, bool created, const std::string& user, std::string* error);

// The names the daemon itself writes directly in state_dir.
bool isDaemonFile(const std::string& name);

// setgroups, setgid, setuid to `user`, then checks root cannot be regained.
bool dropPrivileges(const std::string& user, std::string* error);

}  // namespace dynamo::gateway
