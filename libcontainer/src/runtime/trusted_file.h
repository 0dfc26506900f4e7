// The check that decides whether a file may reach the kernel's filesystem parser: made on
// descriptors, one path component at a time, following no symbolic link, so that what was
// checked is exactly what gets used (no path is opened again afterwards).
#pragma once

#include <string>

#include "cocoon/unique_fd.h"

namespace cocoon {

// Opens `directory` (absolute) and then `name` in it, read-only, and returns the file's
// descriptor when:
//  - no component is a symbolic link (openat2 RESOLVE_NO_SYMLINKS, one component a time);
//  - every directory is owned by root and not writable by group or others; above
//    `directory` a root-owned sticky directory (/tmp, /var/tmp) is accepted too, since
//    there nobody but root can rename or remove root's entries;
//  - the file is a regular file, owned by root, not writable by group or others, with a
//    single link, and not on a FUSE filesystem (whose owners and contents its server makes
//    up).
// Throws Error naming the offending path and the rule it breaks.
UniqueFd open_root_owned_file(const std::string& directory, const std::string& name);

} // namespace cocoon
