// Modules: what a container receives from the host (devices, sockets, libraries, programs,
// environment), described as data in cocoon.yaml (Config::modules).
//
// Three steps, so that most of it is pure and unit-tested:
//   select_modules    which modules apply to this step: their `when`, the user's request
//                     (--container-modules, --no-container-modules, COCOON_MODULES) and
//                     the job's GPUs. Pure.
//   resolve_modules   looks at the host, as the job user (the holder, or `cocoon run`):
//                     expands globs and the job's GPUs, finds libraries by soname through
//                     the host's ld.so cache with their dependencies, reads the Slurm
//                     configuration for the munge socket. A module that cannot be applied
//                     fails with a one-line message naming it and what is missing, unless
//                     it is optional.
//   plan_modules      turns what was resolved into plan operations (mounts and files,
//                     each naming its module) and environment changes. Pure.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cocoon/config.h"
#include "cocoon/plan.h"

namespace cocoon {

// Where module contents live inside the container.
inline constexpr const char* module_lib_dir = "/.cocoon/lib"; // `libraries` (LD_LIBRARY_PATH)
inline constexpr const char* module_bin_dir = "/.cocoon/bin"; // launchers of `executables` (PATH)
inline constexpr const char* module_host_dir = "/.cocoon/host"; // the executables' own runtime

// "a,b,c" -> names; throws Error naming `option` and the bad name.
std::vector<std::string> parse_module_names(const std::string& text, const std::string& option);

// The GPUs of the job, from SLURM_STEP_GPUS, else SLURM_JOB_GPUS, else
// CUDA_VISIBLE_DEVICES, else ROCR_VISIBLE_DEVICES (numeric indices only).
std::vector<unsigned> job_gpus(const std::map<std::string, std::string>& job_environment);

// `value` of a variable that lists GPUs ("2,3", "GPU-8a1c...,3") as a container that has
// the devices of `gpus` only sees them: an index becomes the position of its GPU among
// `gpus` in device order, so inside they are 0..k-1. UUIDs stay as they are. A value with
// an index that is not one of `gpus` is already relative (Slurm numbers them so with
// ConstrainDevices=yes) and is returned unchanged.
std::string renumber_gpu_list(const std::string& value, const std::vector<unsigned>& gpus);

// The names of the modules that apply, in name order. Throws Error for a requested name
// that cocoon.yaml does not define.
std::vector<std::string> select_modules(const Config& config, const ModuleRequest& request,
                                        const std::map<std::string, std::string>& job_environment);

// One module, as found on this host.
struct ResolvedModule {
    std::string name;
    struct Item {
        std::string source; // host path
        std::string target; // path inside
        bool read_only = true;
        bool device = false;
    };
    std::vector<Item> mounts; // devices and binds
    std::vector<Item> libraries; // into /.cocoon/lib
    std::vector<Item> host_files; // executables, their loader and libraries (/.cocoon/host)
    struct Launcher {
        std::string name; // /.cocoon/bin/NAME
        std::string program; // path inside /.cocoon/host
        std::string loader; // path inside /.cocoon/host; empty: the program runs as is
    };
    std::vector<Launcher> launchers;
    std::vector<Module::File> files;
    std::vector<std::pair<std::string, std::string>> set_environment;
    std::vector<std::pair<std::string, std::string>> prepend_environment;
    std::vector<std::string> pass_environment;
    std::vector<LibraryReplacement> replacements; // abi_check, checked against the image
};

struct ModuleResolution {
    std::vector<ResolvedModule> modules;
    std::vector<std::string> skipped; // "NAME: why", optional modules left out
};

// What the resolver knows of the step: the job's environment and the path of the SPANK
// plugin (empty in `cocoon run`), for {cocoon_plugin}.
struct ModuleContext {
    std::map<std::string, std::string> job_environment;
    std::string cocoon_plugin;
};

// Resolves the selected modules on this host. Throws Error "module 'NAME': ..." for a
// module that is not optional and cannot be applied.
ModuleResolution resolve_modules(const Config& config, const std::vector<std::string>& names,
                                 const ModuleContext& context);

// The plan of `spec`'s container on this host: plan_container() plus the modules that
// apply to the step (spec.modules, the job's environment in spec.environment), resolved
// here. Throws Error naming a module that cannot be applied.
Plan plan_with_modules(const ContainerSpec& spec, const Config& config);

// Adds the operations of the resolved modules to `plan` (after the base operations).
void plan_modules(const ModuleResolution& resolution, Plan& plan);

// The variables the tasks get from the modules, given the value each has without them
// (`current`: the job's environment with the image's applied) and the job's own.
std::vector<std::pair<std::string, std::string>>
module_environment(const std::vector<EnvironmentChange>& changes,
                   const std::map<std::string, std::string>& current,
                   const std::map<std::string, std::string>& job_environment);

// NAME=VALUE strings as a map (the first of a repeated name wins, as getenv does).
std::map<std::string, std::string> environment_map(const std::vector<std::string>& environment);

} // namespace cocoon
