// What the library trusts before it acts on a path that decides what runs, asked ahead of
// time: `cocoon check` reports on a node's programs and caches with the very checks the
// plugin applies when a job uses them.
#pragma once

#include <sys/types.h>

#include <string>

namespace cocoon {

// Throws the Error the library would throw before executing `path` (squashfuse, tar2sqfs):
// a regular file owned by root (or the caller) and writable by nobody else, in directories
// only root (or the caller) can change. `what` names it in the message.
void verify_trusted_program(const std::string& path, const std::string& what);

// Throws the Error the library would throw before using the directory `path` owned by
// `owner` (or root, when `root_may_own`): every directory above changeable only by root or
// the owner (root-owned sticky directories excepted), the directory itself not writable by
// its group or others.
void verify_trusted_directory(const std::string& path, uid_t owner, bool root_may_own,
                              const std::string& what);

// Throws the Error the importer would throw when it opens the shared image cache `path`
// (cocoon.yaml shared_caches) filled by `owner` (shared_cache_owner as a uid). A cache
// that does not exist passes, as the importer skips it.
void verify_shared_cache(const std::string& path, uid_t owner);

} // namespace cocoon
