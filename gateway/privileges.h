#pragma once
// Started as root (outside systemd, or by an init without capabilities), the daemon binds its
// ports and then becomes `run_as`; it never goes on as root when told to drop and cannot.

#include <string>

namespace dynamo::gateway {

// Gives `path` and the files directly in it to `user` (so the state directory stays writable
// after the drop). No-op unless running as root.
bool handOver(const std::string& path, const std::string& user, std::string* error);

// setgroups, setgid, setuid to `user`, then checks root cannot be regained.
bool dropPrivileges(const std::string& user, std::string* error);

}  // namespace dynamo::gateway
