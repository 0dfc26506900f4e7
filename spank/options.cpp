#include "options.h"

#include <unistd.h>

#include <climits>
#include <string>

#include "cocoon/error.h"
#include "cocoon/image.h"
#include "cocoon/image_config.h"
#include "cocoon/modules.h"
#include "pyxis_options.h"

namespace cocoon::spank {

namespace {

std::optional<std::string> container_image_value;
std::vector<std::string> container_env_names;
bool container_entrypoint = false;
ModuleRequest module_request;

std::string local_directory()
{
    char cwd[PATH_MAX];
    return getcwd(cwd, sizeof(cwd)) ? cwd : "/";
}

// Callbacks may run more than once (srun, then slurmstepd): they only record, and check
// the syntax where a user can still fix it before the job is queued.
int on_container_image(int, const char* optarg, int remote)
{
    std::string value = optarg ? optarg : "";
    if (!remote) {
        try {
            parse_image_reference(value, local_directory());
        } catch (const Error& e) {
            slurm_error("cocoon: --container-image=%s: %s", printable(value).c_str(),
                        printable(e.what()).c_str());
            return -1;
        }
    }
    container_image_value = value;
    return 0;
}

int on_container_env(int, const char* optarg, int remote)
{
    std::string value = optarg ? optarg : "";
    try {
        container_env_names = parse_env_names(value);
    } catch (const Error& e) {
        // On the node a bad value is ignored here and reported by requested_image's caller
        // only through the submit-side check, which already refused it.
        if (!remote) {
            slurm_error("cocoon: --container-env=%s: %s", printable(value).c_str(),
                        printable(e.what()).c_str());
            return -1;
        }
        container_env_names.clear();
    }
    return 0;
}

int on_container_entrypoint(int, const char*, int)
{
    container_entrypoint = true;
    return 0;
}

// --container-modules=a,b and --no-container-modules[=a,b]: names are checked against
// cocoon.yaml on the node (the submit side may not have the same file).
int on_container_modules(int, const char* optarg, int remote)
{
    try {
        module_request.enable = parse_module_names(optarg ? optarg : "", "--container-modules");
    } catch (const Error& e) {
        if (!remote) {
            slurm_error("cocoon: %s", printable(e.what()).c_str());
            return -1;
        }
    }
    return 0;
}

int on_no_container_modules(int, const char* optarg, int remote)
{
    if (!optarg || !*optarg) {
        module_request.disable_all = true;
        return 0;
    }
    try {
        module_request.disable = parse_module_names(optarg, "--no-container-modules");
    } catch (const Error& e) {
        if (!remote) {
            slurm_error("cocoon: %s", printable(e.what()).c_str());
            return -1;
        }
    }
    return 0;
}

struct spank_option options[] = {
    {const_cast<char*>("container-image"), const_cast<char*>("IMAGE"),
     const_cast<char*>("[cocoon] run every task in a container of IMAGE: a registry image "
                       "(ubuntu:24.04), a squashfs file, a root filesystem directory, oci:DIR, "
                       "oci-archive:FILE or docker-archive:FILE (takes precedence over "
                       "--container)"),
     1, 0, on_container_image},
    {const_cast<char*>("container-env"), const_cast<char*>("NAME[,NAME...]"),
     const_cast<char*>("[cocoon] keep the job's value of these variables instead of the "
                       "image's"),
     1, 0, on_container_env},
    {const_cast<char*>("container-entrypoint"), nullptr,
     const_cast<char*>("[cocoon] run the image's entrypoint when the container starts; the "
                       "tasks get the environment it sets up"),
     0, 0, on_container_entrypoint},
    {const_cast<char*>("container-modules"), const_cast<char*>("NAME[,NAME...]"),
     const_cast<char*>("[cocoon] apply these modules of cocoon.yaml (slurm, munge, ...) to "
                       "the container; also COCOON_MODULES in the job environment"),
     1, 0, on_container_modules},
    {const_cast<char*>("no-container-modules"), const_cast<char*>("[NAME,...]"),
     const_cast<char*>("[cocoon] leave these modules out (all of them without a value), "
                       "including those that apply automatically"),
     2, 0, on_no_container_modules},
    SPANK_OPTIONS_TABLE_END,
};

} // namespace

std::optional<std::string> job_env(spank_t sp, const std::string& name)
{
    // Values may be long (PATH, LD_LIBRARY_PATH): grow the buffer until it fits.
    for (size_t size = 4096; size <= (1 << 20); size *= 4) {
        std::string buffer(size, '\0');
        spank_err_t rc = spank_getenv(sp, name.c_str(), buffer.data(), static_cast<int>(size));
        if (rc == ESPANK_SUCCESS)
            return std::string(buffer.c_str());
        if (rc != ESPANK_NOSPACE)
            return std::nullopt;
    }
    return std::nullopt;
}

int register_options(spank_t sp)
{
    for (auto* option = options; option->name; ++option)
        if (spank_option_register(sp, option) != ESPANK_SUCCESS)
            return -1;
    return register_container_options(sp);
}

std::vector<std::string> kept_environment()
{
    return container_env_names;
}

bool entrypoint_requested()
{
    return container_entrypoint;
}

ModuleRequest requested_modules()
{
    return module_request;
}

std::optional<ImageRequest> requested_image(spank_t sp)
{
    if (container_image_value)
        return ImageRequest{"--container-image", *container_image_value};
    // Too long a value is still a request: the node-side check rejects it with a message.
    if (auto value = job_env(sp, "SLURM_CONTAINER"); value && !value->empty())
        return ImageRequest{"--container", *value};
    for (const char* name : image_variables)
        if (auto value = job_env(sp, name); value && !value->empty())
            return ImageRequest{name, *value};
    return std::nullopt;
}

std::optional<ImageRequest> submitted_image()
{
    if (container_image_value)
        return ImageRequest{"--container-image", *container_image_value};
    if (const char* value = getenv("SLURM_CONTAINER"); value && *value)
        return ImageRequest{"--container", value};
    for (const char* name : image_variables)
        if (const char* value = getenv(name); value && *value)
            return ImageRequest{name, value};
    return std::nullopt;
}

} // namespace cocoon::spank
