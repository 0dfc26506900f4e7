// The little of an ELF file that library resolution needs: its interpreter and the
// DT_NEEDED, DT_RUNPATH and DT_RPATH entries of its dynamic section. Reads only headers
// and the dynamic string table (pread), never the whole file: driver libraries are large.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace cocoon {

struct ElfInfo {
    bool is_elf = false; // false: not an ELF file (a script, say); nothing else is set
    std::string interpreter; // PT_INTERP, empty for shared libraries and static programs
    std::vector<std::string> needed;
    std::vector<std::string> search_path; // DT_RUNPATH, else DT_RPATH, split at ':'
};

// Throws Error naming `path` when it cannot be read or is a malformed ELF file.
ElfInfo read_elf(const std::string& path);

// The values of the named string constants that the shared library `path` exports (a
// defined object in .dynsym, such as MPICH's `const char MPII_Version_ABI[]`), each read
// up to its terminating NUL. Names the library does not export are absent; a file that is
// not ELF, or has no section headers, exports nothing. Throws Error naming `path` when it
// cannot be read or is malformed.
std::map<std::string, std::string> read_elf_string_symbols(const std::string& path,
                                                           const std::set<std::string>& names);

} // namespace cocoon
