// Site configuration (cocoon.yaml), owned by the admin. Unknown keys are errors so a typo
// never silently changes behaviour. Every key is documented in etc/cocoon.yaml and
// cocoon.yaml(5).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cocoon {

// Module::AbiCheck and Config::Registry are defined outside their structs: clang takes a
// nested struct with member initializers for one without a default constructor while the
// enclosing struct is being defined, and keeps that answer (nlohmann::json's get<> asks).

// A module's host libraries that replace the image's own copies of an ABI-stable family
// (MPICH's libmpi.so.12): each image soname is served by a host library bound under that
// name in /.cocoon/lib, once the image's copy passed the check `policy` names.
struct ModuleAbiCheck {
    enum class Policy {
        Major, // the same soname major version (the MPICH ABI promise)
        Full, // and the host's library version at least the image's
        Strict, // the very same library version and release
    };
    Policy policy = Policy::Major;
    std::map<std::string, std::string> replace; // image soname -> host soname
    bool operator==(const ModuleAbiCheck&) const = default;
};

// A registry's settings (Config::registries).
struct RegistrySettings {
    bool insecure = false; // plain HTTP allowed
    std::vector<std::string> mirrors; // tried first, in order (host[:port])
    bool operator==(const RegistrySettings&) const = default;
};

// A module: what a container receives from the host when the module applies (devices,
// bind mounts, host libraries and programs, files, environment). Pure data from
// cocoon.yaml; src/modules/ resolves it against the host and turns it into plan
// operations. Every key is described in etc/cocoon.yaml and cocoon.yaml(5).
struct Module {
    enum class When { Always, Requested, Gpus };
    When when = When::Requested;
    // A module that cannot be applied (a device, library or bind source is missing) is
    // skipped instead of failing the step.
    bool optional = false;
    // Host directory that stands for / when devices are looked up ("" is /): a device
    // /dev/X comes from DEVICE_ROOT/dev/X and appears at /dev/X.
    std::string device_root;
    // Device paths or globs; {gpu} and {render_node} expand for each GPU of the job.
    std::vector<std::string> devices;
    struct Bind {
        std::string source; // host path; {variables} are replaced
        std::string destination; // path inside; empty: the same as source
        bool read_only = true;
        bool optional = false;
        bool operator==(const Bind&) const = default;
    };
    std::vector<Bind> binds;
    // Host libraries by soname, placed in /.cocoon/lib with their dependencies (the C
    // library's own family excepted: the image's is used).
    std::vector<std::string> libraries;
    // Directories searched for libraries before the host's ld.so cache.
    std::vector<std::string> library_dirs;
    // Host programs (absolute paths, or names found in the host's bin directories), run
    // inside with the host's loader and libraries from /.cocoon/host.
    std::vector<std::string> executables;
    // Shared objects the executables load at run time (globs): their dependencies go to
    // /.cocoon/host as well.
    std::vector<std::string> plugins;
    struct File {
        std::string destination;
        std::string content;
        bool operator==(const File&) const = default;
    };
    std::vector<File> files;
    // Environment of the tasks: set, prepend (with ':'), or keep the job's value.
    std::map<std::string, std::string> set_environment;
    std::map<std::string, std::string> prepend_environment;
    std::vector<std::string> pass_environment;
    // Variables of the job that list GPUs by index (CUDA_VISIBLE_DEVICES): inside, an index
    // becomes the number the container sees, which has the job's GPUs' devices only.
    std::vector<std::string> renumber_gpus;
    // Host libraries that replace the image's own copies of an ABI-stable family.
    using AbiCheck = ModuleAbiCheck;
    std::optional<AbiCheck> abi_check;
    // The version of the loaded kernel driver, which the driver's user-space libraries
    // must have: `pattern` (ECMAScript; group 1 is the version) is searched in `file`, and
    // each of `libraries` (also in the module's libraries) must resolve to a file named
    // <stem>.so.<version>.
    struct DriverVersion {
        std::string file;
        std::string pattern;
        std::vector<std::string> libraries;
        bool operator==(const DriverVersion&) const = default;
    };
    std::optional<DriverVersion> driver_version;

    bool operator==(const Module&) const = default;
};

struct Config {
    // FUSE server used to mount squashfs images inside the user namespace.
    std::string squashfuse;
    // Bind the job user's home directory at the same path.
    bool mount_home = true;
    // Bind the step's working directory (the submit directory) at the same path.
    bool mount_workdir = true;
    // Host files bound read-only at the same path when they exist on the node.
    std::vector<std::string> host_files = {"/etc/hosts", "/etc/resolv.conf"};
    // A container root is writable unless --container-readonly asks otherwise; false: it is
    // read-only unless --container-writable asks (enroot's ENROOT_ROOTFS_WRITABLE).
    bool writable_root = true;
    // Size in bytes of the in-memory (tmpfs) upper layer of a writable container root.
    uint64_t writable_size = uint64_t{1} << 30;

    // Registry used for names without one ("ubuntu:24.04").
    std::string default_registry = "docker.io";
    // Where imported images live. {uid}, {user} and {home} are replaced for the user; the
    // COCOON_CACHE_DIR environment variable of the user (or job) takes precedence.
    std::string cache_dir = "{home}/.cache/cocoon";
    // Upper bound of the cache size in bytes (0: unlimited). After an import, the least
    // recently used images are removed until the cache fits; images in use stay.
    uint64_t cache_max_size = 0;
    // Read-only caches filled by the admin, consulted before the user's own cache.
    std::vector<std::string> shared_caches;
    // Who fills the shared caches: a user name or uid. A shared cache (and its images/ and
    // refs/) must belong to root or to this user, and be writable by nobody else.
    std::string shared_cache_owner = "root";
    // Mount the images of the shared caches with the kernel's squashfs (a read-only loop
    // device) instead of squashfuse, when the cache and the image file are root's and
    // writable by nobody else (checked as root on descriptors at every step); anything
    // else stays on squashfuse. Only for the plugin, which can regain root.
    bool kernel_mount = false;
    // With kernel_mount: seconds a kernel-mounted image stays mounted on the node (in a
    // root-only directory of the runtime directory) after the last step that mounted it
    // ended, so the next job of any user in it finds its superblock's caches warm
    // (0: off, the mount goes with the last step).
    uint64_t kernel_mount_linger = 0;
    // Seconds a job's image mount stays after the last step on the node that used it
    // (0: off, every step mounts its image afresh). Steps of one job that use the same
    // squashfs image with the same id maps share one mount, so its caches stay warm.
    uint64_t warm_mount_linger = 0;
    // With warm_mount_linger: the jobs of one user on a node share warm mounts too (same
    // image file, same id maps, same configuration), so a mount outlives the job that
    // made it by up to warm_mount_linger. Only jobs whose steps run in one mount namespace
    // share: with a job_container plugin (a namespace per job) mounts stay per job.
    bool warm_mount_across_jobs = false;
    // Seconds a tag's resolution stays good on a node (0: ask the registry at every use).
    // A step whose tag a registry resolved on this node (or the admin's pull, for a shared
    // cache) less than this long ago uses the cached image without any request.
    uint64_t tag_check_interval = 0;
    // For a step on several nodes whose image is named by tag, srun asks the registry for
    // the digest once, just before the launch, and every node runs that digest. Off: each
    // node asks, as for a one-node step. Not with tag_check_interval, whose point is asking
    // nobody.
    bool srun_resolves_tags = true;
    // The squashfs writer that turns an image's merged layers into one file.
    std::string tar2sqfs;

    // Caps on what an image's layers may hold together, checked while they are merged
    // (layers are hostile input): bytes of file content, entries (files, directories,
    // links, whiteouts), and bytes of one entry's path.
    uint64_t image_max_size = uint64_t{64} << 30;
    uint64_t image_max_entries = 1000000;
    uint64_t image_max_path_length = 4096;

    // Registry transfers, in seconds: the most one request may take (a layer download is
    // one request), and how long one may stay below 1 KiB/s before it is given up.
    uint64_t transfer_timeout = 3600;
    uint64_t transfer_stall_timeout = 60;
    // How often a registry request that failed in a way worth repeating (no connection, a
    // stall, 429, 5xx) is tried again, with waits of 1, 2, 4, ... up to 30 s (or the
    // registry's Retry-After).
    uint64_t transfer_retries = 3;

    using Registry = RegistrySettings;
    // Per-registry settings, keyed by host[:port] as written in image names.
    std::map<std::string, Registry> registries;

    // The seccomp filter of every task (runtime/seccomp.cpp has the default deny list).
    struct Seccomp {
        bool enabled = true;
        std::vector<std::string> deny; // system calls denied (EPERM) on top of the default
        std::vector<std::string> allow; // names taken out of the default deny list
        bool operator==(const Seccomp&) const = default;
    };
    Seccomp seccomp;

    // Node passthrough described as data (keyed by module name).
    std::map<std::string, Module> modules;

    bool operator==(const Config&) const = default;
};

// The built-in defaults, used when no file is given.
Config default_config();

// Loads and validates a cocoon.yaml file. Throws Error naming the file, key and problem.
Config load_config(const std::string& path);

// For the plugin, which acts on this file in root's slurmstepd: loads it only when no user
// other than root could have written it or replaced it: the file and every directory
// above it root's and writable only by root (root-owned sticky directories excepted), the
// file not a symbolic link. Checked on the opened descriptors. Throws Error naming the
// file and what to fix.
Config load_trusted_config(const std::string& path);

// Same, from YAML text (for tests and for error messages that name `origin`).
Config parse_config(const std::string& text, const std::string& origin);

// cocoon.yaml's top-level keys (each a field of Config of the same name).
std::vector<std::string> config_keys();

// cocoon.yaml's top-level keys as the documentation describes them: the type's name as
// cocoon.yaml(5) writes it, and the default as etc/cocoon.yaml writes it.
struct ConfigKey {
    std::string name;
    std::string type;
    std::string default_value;
};
std::vector<ConfigKey> config_key_table();

} // namespace cocoon
