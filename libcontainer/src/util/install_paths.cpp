#include "util/install_paths.h"

#include <dlfcn.h>

#include <climits>
#include <cstdlib>
#include <filesystem>

#include "cocoon/error.h"
#include "cocoon/programs.h"
#include "cocoon_build_config.h"

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

std::string installed_program(const std::string& configured)
{
    if (configured.starts_with('/'))
        return configured;
    return (std::filesystem::path(libcocoon_directory()) / configured).lexically_normal().string();
}

std::string cocoon_command_path()
{
    return installed_program(COCOON_PROGRAM);
}

} // namespace cocoon
