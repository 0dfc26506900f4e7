// Where libcocoon's own files are: the holder program and libcocoon-import are found
// relative to the installed library, so that a staged install (meson install --destdir)
// and the build tree work like the real one.
#pragma once

#include <string>

namespace cocoon {

// The directory of the libcocoon file this process loaded, symbolic links resolved.
std::string libcocoon_directory();

// A program of this installation configured at build time (cocoon_build_config.h): the
// path itself when absolute, else relative to libcocoon_directory().
std::string installed_program(const std::string& configured);

} // namespace cocoon
