#include "util/install_paths.h"

#include <dlfcn.h>

#include <climits>
#include <cstdlib>
#include <filesystem>

#include "cocoon/error.h"

namespace cocoon {

std::string libcocoon_directory()
{
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&libcocoon_directory), &info) == 0 || !info.dli_fname)
        fail("cannot find where libcocoon is installed");
    char real[PATH_MAX];
    if (!realpath(info.dli_fname, real))
        throw_errno(fmt::format("cannot resolve {}", info.dli_fname));
    return std::filesystem::path(real).parent_path().string();
}

} // namespace cocoon
