// The two looks at real files that a module's abi_check needs: the version of a library
// file (the host's, while modules are resolved; the image's, once it is mounted), and the
// check itself, run in the container before any task starts.
#pragma once

#include <string>
#include <vector>

#include "cocoon/plan.h"

namespace cocoon {

// The version of the shared library `path` (see library_abi.h for where it comes from).
// Throws Error naming `path` when it cannot be read or is not a valid ELF file.
LibraryVersion read_library_version(const std::string& path);

// Runs with the container's root as `/` (the holder, after assemble_rootfs): each library
// the image has (by its own ld.so cache, then the usual library directories) must be
// replaceable by the host's under the module's policy. Throws Error with a one-line
// message naming the module, both versions and the policy otherwise.
void check_replaced_libraries(const std::vector<LibraryReplacement>& replacements);

} // namespace cocoon
