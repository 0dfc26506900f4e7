// The container options pyxis users type (--container-mounts, --container-workdir,
// --container-remap-root, --container-writable, --container-unshare, ...), parsed into
// data. Shared by the SPANK plugin and `cocoon run`, carried to the node in ContainerSpec.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cocoon/config.h"
#include "cocoon/named_container.h"

namespace cocoon {

// One entry of --container-mounts=SRC[:DST[:FLAGS]].
struct MountRequest {
    std::string source; // absolute host path (relative ones are resolved on parsing)
    std::string target; // absolute path in the container, no ".." component
    bool read_only = false;
    bool recursive = true; // rbind (the default) or bind
    // Mount propagation asked for: "", "private", "rprivate", "slave", "rslave".
    std::string propagation;
    bool noexec = false;
};

// --container-unshare=net,ipc,uts
struct UnshareRequest {
    bool net = false;
    bool ipc = false;
    bool uts = false;
    bool any() const { return net || ipc || uts; }
};

struct ContainerOptions {
    std::vector<MountRequest> mounts;
    // "umount:PATH" entries: default mounts of the container (home, /tmp, host_files, ...)
    // at these paths are left out.
    std::vector<std::string> unmounts;
    // --container-workdir: where tasks start; empty: the image's WorkingDir, else the
    // submit directory, else /.
    std::string workdir;
    // --[no-]container-mount-home; unset: cocoon.yaml's mount_home.
    std::optional<bool> mount_home;
    // --container-remap-root: the user is uid 0 (and their group gid 0) inside.
    bool remap_root = false;
    // --container-writable / --container-readonly (cocoon.yaml writable_root when neither is
    // given): an overlay with an in-memory upper layer over the image, or the image read-only.
    bool writable = true;
    UnshareRequest unshare;
    // --container-entrypoint-log: the entrypoint's output (stdout and stderr) is shown to
    // the user instead of discarded.
    bool entrypoint_log = false;

    // Whether the user is uid 0 of the container's outer user namespace, so that the
    // image's root-owned files are theirs (a writable root, as with enroot, or remap-root);
    // without remap-root the tasks then run in an inner user namespace where the user is
    // themselves. A read-only container keeps the image's owners (root's files belong to
    // nobody) with one user namespace where the user is themselves.
    bool user_is_outer_root() const { return remap_root || writable; }
};

// Parses a --container-mounts value: comma-separated SRC[:DST[:FLAGS]] entries, FLAGS
// joined with '+' (ro, rw, bind, rbind, private, rprivate, slave, rslave, noexec, nosuid,
// nodev), or "umount:PATH". A relative SRC is taken relative to `base_dir`. Throws Error
// naming the entry and what is wrong with it; `unmounts` receives the umount: entries.
std::vector<MountRequest> parse_mount_requests(const std::string& text, const std::string& base_dir,
                                               std::vector<std::string>& unmounts);

// Parses --container-unshare=net,ipc,uts (any of them). Throws Error naming the unknown
// word and the accepted ones.
UnshareRequest parse_unshare_request(const std::string& text);

// The value of a boolean environment variable (PYXIS_CONTAINER_REMAP_ROOT=1, ...): 1, true,
// yes, on / 0, false, no, off (any case). Throws Error naming `name` otherwise.
bool parse_boolean_value(const std::string& name, const std::string& text);

// Checks that `path` is a usable --container-workdir (not empty, no control character);
// relative paths are taken from the container's root, as pyxis does.
void check_container_workdir(const std::string& path);

// Host-side check of the sources of `mounts` where this host can tell: a source that does
// not exist while its parent directory does is an error (a typo); one whose parent is
// missing too may exist on the compute node only and is left to the node. Throws Error.
void check_mount_sources(const std::vector<MountRequest>& mounts);

// ---- The options as typed, from the command line and the environment -------------------

// One row per option: its spelling without "--", the spelling that turns it off (a flag
// pair), the argument it takes (nullptr: a flag), its help text, and the suffix of its
// PYXIS_CONTAINER_* / COCOON_CONTAINER_* environment variables.
struct ContainerOptionInfo {
    const char* name;
    const char* negated; // nullptr: none
    const char* argument;
    const char* help;
    const char* negated_help;
    const char* env_suffix;
    const char* negated_env_suffix; // READONLY for WRITABLE; nullptr: none
};
const std::vector<ContainerOptionInfo>& container_option_table();

// (option spelling as typed without "--", value; "" for a flag), in the order given.
using TypedOptions = std::vector<std::pair<std::string, std::string>>;
// Looks a variable up (the submitting process's environment, or the job's on the node).
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// getenv() of the calling process, as an EnvLookup.
std::optional<std::string> process_environment(const std::string& name);

struct ResolvedOptions {
    // The options as typed; the site's defaults (writable_root) are not applied yet:
    // container_options_for gives what a container is built with.
    ContainerOptions container;
    // --[no-]container-entrypoint, PYXIS_CONTAINER_ENTRYPOINT; unset: the default.
    std::optional<bool> entrypoint;
    // --container-writable / --container-readonly, PYXIS_CONTAINER_WRITABLE/READONLY; unset:
    // cocoon.yaml writable_root (container_options_for applies it).
    std::optional<bool> writable;
    // --container-name=NAME[:FLAG], PYXIS_CONTAINER_NAME; unset: the step's own container.
    std::optional<ContainerName> name;
    // Where it came from, for messages: "--container-name=VALUE" or "NAME=VALUE".
    std::string name_source;
    // --container-save=PATH, PYXIS_CONTAINER_SAVE: the squashfs file the container is saved
    // to when the step ends (absolute); empty: none.
    std::string save;
};

// The container's options with the site's defaults applied where the user gave none.
ContainerOptions container_options_for(const ResolvedOptions& resolved, const Config& config);

// The absolute, normalised path of --container-save=TEXT (a relative one is taken from
// `base_dir`). Throws Error when TEXT is empty, has a control character or ends in '/'.
std::string resolve_save_path(const std::string& text, const std::string& base_dir);

// The options of the table from `typed` (the command line) or, for an option not typed,
// from COCOON_CONTAINER_<SUFFIX>, else PYXIS_CONTAINER_<SUFFIX>. Relative mount sources are
// taken from `base_dir`; with `check_sources`, missing sources are refused where this host
// can tell (check_mount_sources). Throws Error whose message starts with what was typed
// ("--container-mounts=VALUE: ..." or "PYXIS_CONTAINER_MOUNTS=VALUE: ..."); an option and
// its negation both typed, or --container-writable with --container-readonly, are refused.
ResolvedOptions resolve_container_options(const TypedOptions& typed, const EnvLookup& env,
                                          const std::string& base_dir, bool check_sources);

} // namespace cocoon
