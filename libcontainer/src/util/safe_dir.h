// Directories that decide what runs (an image cache) are trusted only when nobody but root
// and their owner could have changed them. The checks are made on opened descriptors, one
// path component at a time, and every later operation is relative to those descriptors
// with O_NOFOLLOW: a path swapped after the check cannot redirect anything.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "cocoon/unique_fd.h"

namespace cocoon::sys {

// Who may own a trusted directory, and whether to create what is missing.
struct DirRule {
    uid_t owner = 0; // the directory itself (and anything created) belongs to this uid
    bool root_may_own = false; // ... or to root
    bool follow_final_link = false; // the directory itself may be a link (owned as above)
    bool create = false; // create missing components (mode `mode`, owned by the caller)
    mode_t mode = 0700;
    const char* what = "directory"; // named in errors ("the image cache")
};

// Opens the directory `path` (absolute) for `rule`:
//  - every component above it is owned by root or rule.owner, and writable by nobody else
//    unless it is a root-owned sticky directory (/tmp, /var/tmp); a symbolic link on the
//    way is followed only when it is owned by root or rule.owner;
//  - the directory itself is not a symbolic link (unless rule.follow_final_link), is owned
//    by rule.owner and is not writable by its group or others.
// Throws Error naming the path, the offending component and the rule it breaks.
UniqueFd open_trusted_dir(const std::string& path, const DirRule& rule);

// Opens (creating with rule.mode when rule.create) the subdirectory `name` of `parent`, with
// the same checks as the last component above.
UniqueFd open_trusted_subdir(int parent, const std::string& parent_path, const std::string& name,
                             const DirRule& rule);

// Opens the program at `path` (O_PATH, for execveat) only when it is a regular file owned
// by root or the real uid of the caller, writable by nobody else, in directories that
// pass open_trusted_dir's checks for the same owners. `what` names it in errors.
UniqueFd open_trusted_program(const std::string& path, const char* what);

// Writes `content` to dir/name through a new temporary file NAME.tmp.PID (O_EXCL,
// O_NOFOLLOW), fsync'ed and renamed over `name`: readers see all or nothing. The writer
// holds a flock on the temporary until the rename, so is_dead_temporary can tell one a
// killed writer left. `shown` names the file in errors.
void write_file_atomically(int dir, const std::string& name, const std::string& content,
                           mode_t mode, const std::string& shown);

// Whether dir/name, a temporary whose writer holds a flock on it while it writes
// (write_file_atomically, a container save), was left by a writer that is gone: nobody
// holds its lock, and it is at least `settle` seconds old (the moment between creating and
// locking it). Where the file system cannot lock, only an age of a minute says so.
bool is_dead_temporary(int dir, const std::string& name, time_t settle);

// Removes the files of `dir` that `is_temporary` names a temporary of and whose writer is
// gone (is_dead_temporary): what killed writers left.
void remove_dead_temporaries(int dir, const std::function<bool(const std::string&)>& is_temporary,
                             time_t settle);

// Removes dir/name and everything below it without following symbolic links. Missing is
// fine; other errors are ignored (best effort cleanup).
void remove_tree(int dir, const std::string& name) noexcept;

} // namespace cocoon::sys
