// What one container is made of: the image, who runs in it, and which host paths it sees.
// Built once per node per step (SPANK user_init) or per `cocoon run`, before any fork.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "cocoon/config.h"
#include "cocoon/container_options.h"
#include "cocoon/reference.h"

namespace cocoon {

struct Identity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups; // supplementary groups, as the job has them
    std::string user_name;
    std::string gecos;
    std::string home;
    std::string shell;
    std::vector<std::pair<gid_t, std::string>> group_names; // primary + supplementary
};

// Looks the user and groups up in the host's user database (NSS). Call it before forking:
// NSS is not safe in a child of a multi-threaded process.
Identity lookup_identity(uid_t uid, gid_t gid, std::vector<gid_t> groups);

// What the user asked for: --container-modules=a,b (or COCOON_MODULES=a,b) enables,
// --no-container-modules=a,b disables, --no-container-modules alone disables every module.
struct ModuleRequest {
    std::vector<std::string> enable;
    std::vector<std::string> disable;
    bool disable_all = false;
};

struct ContainerSpec {
    ImageReference image;
    Identity identity;
    // The step's working directory on the host; bound at the same path and the tasks'
    // working directory inside.
    std::string workdir;
    // Host files bound read-only at the same path (the batch script of an sbatch job).
    std::vector<std::string> extra_files;
    // Host directories of this step bound read-write at the same path: the PMIx server's
    // rendezvous directory (its socket and shared-memory store) under slurmd's spool.
    std::vector<std::string> step_directories;
    // The user's image cache (resolve_cache_dir), for images that need importing.
    std::string cache_dir;
    // --container-entrypoint: run the image's Entrypoint once when the container is ready,
    // starting from `environment` (the job's) with the image's Env applied (names in
    // `keep_environment` keep their job value); the environment it ends with goes to the
    // tasks.
    bool run_entrypoint = false;
    // The job's environment (NAME=VALUE): the entrypoint's start, and what modules read
    // (their selection through COCOON_MODULES, the job's GPUs, SLURM_CONF, pass-through).
    std::vector<std::string> environment;
    std::vector<std::string> keep_environment;
    // Modules asked for or refused by the user; the SPANK plugin's own path ({cocoon_plugin}).
    ModuleRequest modules;
    std::string cocoon_plugin;
    // The pyxis-style options (--container-mounts, --container-workdir, remap-root,
    // writable/readonly, unshare, mount-home).
    ContainerOptions options;
};

// The cache directory for `identity`: `override` (the user's COCOON_CACHE_DIR) when set,
// otherwise cache_dir from cocoon.yaml with {uid}, {user} and {home} replaced.
std::string resolve_cache_dir(const Config& config, const Identity& identity,
                              const std::string& override);

// /etc/passwd of the container: the image's file with the user's entry appended when the
// image does not already have one for that uid.
std::string passwd_with_user(const std::string& image_passwd, const Identity& identity);

// /etc/group of the container: the image's file plus an entry for each of the user's
// groups that the image does not define, listing the user as a member.
std::string group_with_user(const std::string& image_group, const Identity& identity);

// Id maps of the user namespace: the user and their groups map to themselves.
std::string uid_map_text(const Identity& identity);
std::string gid_map_text(const Identity& identity, bool with_supplementary_groups);

// The container's outer user namespace (runtime/holder.cpp write_id_maps): the user is
// uid 0 and their primary group gid 0 there, supplementary groups map to themselves (gid 0
// among them is left out). It is what tasks see with --container-remap-root.
std::string remapped_uid_map_text(const Identity& identity);
std::string remapped_gid_map_text(const Identity& identity, bool with_supplementary_groups);

// The inner user namespace, a child of the outer one, where the user is themselves again:
// `outer_map` (the outer namespace's uid_map or gid_map as the kernel shows it from
// inside) with 0 turned back into `id` and every other id mapped to itself.
std::string inner_id_map_text(const std::string& outer_map, unsigned id);

} // namespace cocoon
