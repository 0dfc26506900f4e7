// The programs of this installation that callers of libcocoon run themselves.
#pragma once

#include <string>

namespace cocoon {

// The cocoon command, found like the holder: relative to where libcocoon was loaded from,
// so that a staged install (meson install --destdir) runs its own. srun runs it to resolve
// a multi-node step's tag.
std::string cocoon_command_path();

} // namespace cocoon
