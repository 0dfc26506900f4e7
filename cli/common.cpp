#include "common.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

#include "cocoon_build_config.h"

namespace cocoon::cli {

std::string current_directory()
{
    char cwd[PATH_MAX];
    return getcwd(cwd, sizeof(cwd)) ? cwd : "/";
}

Config load_cli_config(const std::string& path)
{
    if (!path.empty())
        return load_config(path);
    if (access(COCOON_DEFAULT_CONFIG, F_OK) == 0)
        return load_config(COCOON_DEFAULT_CONFIG);
    return default_config();
}

Identity current_identity()
{
    std::vector<gid_t> groups(static_cast<size_t>(getgroups(0, nullptr)));
    groups.resize(static_cast<size_t>(getgroups(static_cast<int>(groups.size()), groups.data())));
    return lookup_identity(getuid(), getgid(), groups);
}

std::string cache_dir(const Config& config, const Identity& identity)
{
    const char* override = getenv("COCOON_CACHE_DIR");
    return resolve_cache_dir(config, identity, override ? override : "");
}

} // namespace cocoon::cli
