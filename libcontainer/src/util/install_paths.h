// Where libcocoon's own files are: the holder program and libcocoon-import are found
// relative to the installed library, so that a staged install (meson install --destdir)
// and the build tree work like the real one.
#pragma once

#include <string>

namespace cocoon {

// The directory of the libcocoon file this process loaded, symbolic links resolved.
std::string libcocoon_directory();

} // namespace cocoon
