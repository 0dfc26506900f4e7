// spank_cocoon.so: runs every task of a step inside a container.
//
// The path of one step on a node (slurmstepd, remote context):
//   user_init             build the container once: a holder process that drops to the job
//                         user, creates the user + mount namespaces and mounts the image;
//                         open the holder's namespaces (as root: the holder is not
//                         dumpable), once for all the node's tasks, which inherit them
//   task_init             as the user: join them, enter the working directory, set
//                         no_new_privs, install the seccomp filter; slurmstepd then
//                         executes the task's command
//   exit                  stop the holder; its mounts go with the namespaces
//   job_prolog, job_epilog  end the job's named containers (--container-name) on this
//                         node: at its end, and at its start after a requeue; remove the
//                         records of users' image holders that have ended; release the
//                         kept kernel mounts whose linger has passed
//
// A named container's holder outlives its step: the step that creates it records it
// (named_containers.h) and leaves it running; a later step of the job that names it joins
// its namespaces instead of building a container.
//
// Errors found in user_init do not reach srun, so they are kept and reported by every task
// in task_init, which fails the task with the message on the user's terminal. A user's
// mistake never fails a callback that would drain the node.
//
// ROOT CONTEXT. slurmstepd runs as root. The privileged operations of this plugin are:
//   1. drop_to_job_user(): in the holder's child (spawned: it shares slurmstepd's memory
//      until it executes), before anything else, switch fully to the job user (setgroups,
//      setresgid, setresuid as raw system calls, verified); the child then executes the
//      holder program (cocoon-holder) with a clean environment. Image data (registry
//      answers, layers, image configuration JSON) is read only there; this process gets
//      flat, size-checked values back (runtime/holder.cpp).
//   2. write_id_maps() of our own child holder under RootEuid.
//   3. open_namespaces() of our own child holder (or the named container's) in user_init,
//      kept until exit.
//   4. mount_trusted_kernel_image(): with cocoon.yaml kernel_mount, when the holder names an
//      image of a shared cache (an index into our own shared_caches and a digest, nothing
//      else), check the file on descriptors and mount it with the kernel's squashfs from
//      a read-only loop device; the holder receives only the detached mount
//      (runtime/kernel_mount.cpp, runtime/trusted_file.cpp). With kernel_mount_linger, a
//      second mount of the same device kept in a private tmpfs under the runtime
//      directory; the step's end notes its use, the job prolog and epilog release it
//      once its linger has passed (runtime/kept_kernel_mounts.cpp).
//   5. at exit, SIGKILL what is still in that mount namespace: only the job user's tasks
//      ever join it, and under proctrack/linuxproc a task's background child escapes
//      Slurm's tracking (catalogue FT-15). The open descriptor keeps the namespace, so
//      its identity cannot be reused by another.
//   6. the records of named containers, in a root-only directory, and the SIGKILL of
//      their processes at the job's end; in the job prolog and epilog, the removal of the
//      records of image holders that have ended (named_containers.cpp says exactly what).
//   7. provide_warm_mount() (cocoon.yaml warm_mount_linger): the records of the job's (with
//      warm_mount_across_jobs: the user's) image holders, as for named containers, and
//      lease_warm_mount() on a recorded one:
//      pin it with a pidfd, check its start time, copy its lease socket (pidfd_getfd),
//      send one end of a new socket pair, read one byte, open its ns/{user,mnt}
//      (runtime/warm_lease.cpp). The image holder itself is started like any holder.
// Nothing else runs as root: no user-supplied path is touched, nothing is executed, and the
// job's environment is never read by code that runs as root except to get the image name.
// slurmstepd's own environment (not the job's: slurmd started it) gives the PMIx server's
// directory, which the holder binds as the user.
#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

extern "C" {
#include <slurm/slurm.h>
#include <slurm/spank.h>
}

#include "cocoon/config.h"
#include "cocoon/container.h"
#include "cocoon/container_save.h"
#include "cocoon/error.h"
#include "cocoon/image.h"
#include "cocoon/image_config.h"
#include "cocoon/importer.h"
#include "cocoon/kernel_mount.h"
#include "cocoon/log.h"
#include "cocoon/named_container.h"
#include "cocoon/spec.h"
#include "cocoon/warm_mount.h"
#include "cocoon_build_config.h"
#include "import_reporter.h"
#include "named_containers.h"
#include "options.h"
#include "pyxis_options.h"
#include "tag_resolution.h"

extern "C" {
extern const char plugin_name[] = "cocoon";
extern const char plugin_type[] = "spank";
extern const unsigned int plugin_version = SLURM_VERSION_NUMBER;
extern const unsigned int spank_plugin_version = 0;
}

namespace {

using namespace cocoon;

// State of this step on this node. slurmstepd forks the tasks after user_init, so each
// task process starts with a copy.
struct StepState {
    std::string config_path = COCOON_DEFAULT_CONFIG;
    bool config_path_given = false;
    std::string error; // set up failed: every task reports this and fails
    std::unique_ptr<Holder> holder;
    std::string workdir;
    std::string image_workdir; // the image's WorkingDir, when the workdir is not there
    std::string requested_workdir; // --container-workdir
    // The container's, opened once in user_init; each task process joins its copy.
    std::optional<NamespaceFds> namespaces;
    UniqueFd container_mnt_ns; // slurmstepd's, ends leftovers at exit
    std::string kernel_image; // the hex digest of the image this step kernel-mounted
    SeccompProgram seccomp; // cocoon.yaml's filter, compiled once for the node's tasks
    bool holder_is_named = false; // this step created a named container
    // The named container of an earlier step that this step joins.
    std::optional<NamedContainerRecord> named;
    bool named_no_exec = false; // :no_exec: its files, not its private namespaces
    // --container-save=PATH (absolute; empty: none), saved as the job user once the last
    // task of node 0 has ended.
    std::string save_path;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
    uint32_t tasks_ended = 0;
    // While start_or_join_named holds the job's records locked: the warm mount hook must
    // use that lock, not take it a second time.
    spank::NodeRecords* locked_job = nullptr;
};

StepState state;

// ---- ROOT CONTEXT ------------------------------------------------------------------------

// Switches the calling process (a child of slurmstepd) to the job user for good. slurmstepd
// called user_init with only its effective uid dropped, so regain root first to be allowed
// to set the groups. Raw system calls, which change only the calling process: the holder's
// child shares slurmstepd's memory (ChildProcess::spawn), and glibc's wrappers would make
// every thread of slurmstepd follow.
void drop_to_job_user(uid_t uid, gid_t gid, const std::vector<gid_t>& groups)
{
    auto call = [](long number, long a, long b, long c) { return syscall(number, a, b, c); };
    if (geteuid() != 0 && call(SYS_setresuid, -1, 0, -1) != 0)
        throw_errno("cannot regain root to drop privileges");
    // slurmd runs with -1000; the helper must be as killable as the job.
    if (int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC); fd >= 0) {
        (void)!write(fd, "0", 1);
        close(fd);
    }
    if (call(SYS_setgroups, static_cast<long>(groups.size()), reinterpret_cast<long>(groups.data()),
             0) != 0)
        throw_errno("setgroups");
    if (call(SYS_setresgid, gid, gid, gid) != 0)
        throw_errno("setresgid");
    if (call(SYS_setresuid, uid, uid, uid) != 0)
        throw_errno("setresuid");
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    call(SYS_getresuid, reinterpret_cast<long>(&ruid), reinterpret_cast<long>(&euid),
         reinterpret_cast<long>(&suid));
    call(SYS_getresgid, reinterpret_cast<long>(&rgid), reinterpret_cast<long>(&egid),
         reinterpret_cast<long>(&sgid));
    if (ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid)
        fail("privileges were not dropped to {}:{}", uid, gid);
    if (uid != 0 && call(SYS_setuid, 0, 0, 0) == 0)
        fail("privileges could be regained after dropping them");
}

// Raises the effective uid to root for one privileged operation and restores it.
class RootEuid {
public:
    RootEuid()
        : saved_(geteuid())
    {
        if (saved_ != 0 && seteuid(0) != 0)
            throw_errno("cannot regain root");
    }
    ~RootEuid()
    {
        if (saved_ != 0 && seteuid(saved_) != 0)
            abort(); // never continue as root by accident
    }
    RootEuid(const RootEuid&) = delete;
    RootEuid& operator=(const RootEuid&) = delete;

private:
    uid_t saved_;
};

// The holder's image lies in a shared cache: mount it with the kernel when it is trusted
// (mount_trusted_squashfs decides, from our own configuration and on descriptors). Any
// refusal leaves the image to squashfuse and says why in slurmd's log.
UniqueFd mount_trusted_kernel_image(const Config& config, pid_t holder,
                                    const TrustedImageRequest& request)
{
    try {
        RootEuid root;
        // The holder is our unreaped child: its pid names it. Its user namespace maps the
        // image's owners as squashfuse would.
        UniqueFd userns(
            open(fmt::format("/proc/{}/ns/user", holder).c_str(), O_RDONLY | O_CLOEXEC));
        if (!userns.valid())
            throw_errno("cannot open the container's user namespace");
        return mount_trusted_squashfs(config, request, userns.get(), COCOON_RUNTIME_DIR);
    } catch (const std::exception& e) {
        slurm_info("cocoon: image %s: %s; mounting it with squashfuse", request.hex.c_str(),
                   printable(e.what()).c_str());
        return UniqueFd();
    }
}

// The text of cocoon.yaml, which load_site_config() parsed for this step (none: the
// defaults). Read again rather than formatted from the parsed values: formatting costs
// about 0.7 ms here, reading 7 KB a few microseconds.
std::string config_file_text()
{
    std::string text;
    UniqueFd fd(open(state.config_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid())
        return text;
    char buffer[16384];
    ssize_t n;
    while ((n = read(fd.get(), buffer, sizeof(buffer))) > 0 && text.size() < (1 << 20))
        text.append(buffer, static_cast<size_t>(n));
    return text;
}

// The name of the record of the image holder for image file `key` and this step's id maps,
// configuration and mount namespace. A step may use an image holder only when its own
// holder would have been given the same maps (uid_map and gid_map text), the same
// configuration (cocoon.yaml's text: a changed file starts new image holders, the old
// ones linger out), and would have seen the same host: the image holder's mount
// namespace is a copy of slurmstepd's when it started, and a job_container plugin gives
// every job a namespace of its own (its /tmp). The image holder keeps that namespace open,
// so its identity cannot pass to another namespace while the record is in use.
std::string warm_record_name(const std::string& key, const ContainerSpec& spec)
{
    bool outer_root = spec.options.user_is_outer_root();
    std::string context =
        outer_root
            ? remapped_uid_map_text(spec.identity) + remapped_gid_map_text(spec.identity, true)
            : uid_map_text(spec.identity) + gid_map_text(spec.identity, true);
    struct stat st {};
    if (stat("/proc/self/ns/mnt", &st) != 0)
        throw_errno("cannot identify slurmstepd's mount namespace");
    context += fmt::format("mnt {}:{}\n", st.st_dev, st.st_ino);
    context += config_file_text();
    // FNV-1a: a name, not a secret. Nothing hashed is the user's to choose, and the
    // directory holds one user's image holders only.
    uint64_t hash = 14695981039346656037ULL;
    for (char c : context)
        hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    return fmt::format("+warm-{}-{}-{:016x}", key, outer_root ? "root" : "user", hash);
}

// warm_mount_linger: the image holder for this image file, id maps and configuration,
// found in the job's records (with warm_mount_across_jobs: the user's; both root's) or
// started like a named container's holder (as the job user) and recorded; then a lease
// on it (lease_warm_mount, as root). Any failure leaves the step to mount its image
// itself, and slurmd's log says why.
std::optional<WarmMount> provide_warm_mount(uint32_t job_id, const ContainerSpec& spec,
                                            const Config& config, const Holder::Hooks& step,
                                            const std::string& image, const std::string& key)
{
    try {
        std::string name = warm_record_name(key, spec);
        bool per_user = config.warm_mount_across_jobs;
        std::optional<spank::NodeRecords> own;
        // start_or_join_named holds the job's records locked: use that lock.
        spank::NodeRecords* records = per_user ? nullptr : state.locked_job;
        std::optional<NamedContainerRecord> record;
        {
            RootEuid root;
            if (!records) {
                own = per_user ? spank::NodeRecords::of_user(spec.identity.uid, true)
                               : spank::NodeRecords::of_job(job_id, true);
                records = &*own;
            }
            record = records->find(name);
        }
        if (!record) {
            Holder::Hooks hooks;
            hooks.in_child = step.in_child;
            hooks.write_id_maps = step.write_id_maps;
            hooks.kernel_mount = step.kernel_mount;
            hooks.undumpable = true;
            hooks.named = true;
            hooks.image_holder_key = key;
            Holder holder = Holder::start(spec, config, hooks);
            record = NamedContainerRecord{};
            record->pid = holder.pid();
            record->start_time = process_start_time(record->pid);
            record->image = image;
            holder.detach();
            RootEuid root;
            records->save(name, *record);
        }
        RootEuid root;
        return lease_warm_mount(record->pid, record->start_time);
    } catch (const std::exception& e) {
        slurm_info("cocoon: warm image mount: %s; mounting the image afresh",
                   printable(e.what()).c_str());
        return std::nullopt;
    }
}

// ---- end of root context -------------------------------------------------------------------

int parse_plugin_arguments(int ac, char** av)
{
    for (int i = 0; i < ac; ++i) {
        std::string arg = av[i];
        if (arg.starts_with("config=")) {
            state.config_path = arg.substr(7);
            state.config_path_given = true;
        } else {
            slurm_error("cocoon: unknown plugstack.conf argument '%s' (known: config=PATH)", av[i]);
            return -1;
        }
    }
    return 0;
}

Config load_site_config()
{
    // Without config=, a node without the default file runs with built-in defaults; any
    // other problem with the file is an error, never silently ignored.
    struct stat st {};
    if (!state.config_path_given && stat(state.config_path.c_str(), &st) != 0 && errno == ENOENT)
        return default_config();
    return load_trusted_config(state.config_path);
}

template <typename T>
T item(spank_t sp, spank_item_t which)
{
    T value{};
    if (spank_get_item(sp, which, &value) != ESPANK_SUCCESS)
        fail("cannot read job information from Slurm (item {})", static_cast<int>(which));
    return value;
}

std::vector<gid_t> job_groups(spank_t sp)
{
    gid_t* gids = nullptr;
    int count = 0;
    if (spank_get_item(sp, S_JOB_SUPPLEMENTARY_GIDS, &gids, &count) != ESPANK_SUCCESS)
        return {};
    return std::vector<gid_t>(gids, gids + count);
}

std::string current_directory()
{
    char cwd[PATH_MAX];
    return getcwd(cwd, sizeof(cwd)) ? cwd : "/";
}

// The image's environment reaches the tasks through the job environment.
void apply_image_config(spank_t sp, const ImageConfig& image)
{
    auto job_value = [sp](const std::string& name) { return spank::job_env(sp, name); };
    for (const auto& name : dropped_locale_variables(image, job_value, spank::kept_environment()))
        spank_unsetenv(sp, name.c_str());
    for (const auto& [name, value] : image_environment(image, job_value, spank::kept_environment()))
        spank_setenv(sp, name.c_str(), value.c_str(), 1);
    state.image_workdir = image.working_dir;
}

// The PMIx server of this step (srun --mpi=pmix) listens in a directory under slurmd's
// spool, PMIX_SERVER_TMPDIR of slurmstepd's own environment, set by Slurm's mpi/pmix plugin
// before user_init. Its tasks find the server there, so the container must see it at the
// same path. Only this step's directory (pmix.JOBID.STEPID) is taken. In a step of a
// heterogeneous job all components share one PMIx namespace, named after the
// heterogeneous job's id: a component's own job id is that id plus its offset.
std::optional<std::string> pmix_server_directory(spank_t sp)
{
    constexpr uint32_t max_het_components = 128;
    const char* value = getenv("PMIX_SERVER_TMPDIR");
    if (!value || value[0] != '/')
        return std::nullopt;
    std::string dir = value;
    while (dir.size() > 1 && dir.back() == '/')
        dir.pop_back();
    unsigned job = 0, step = 0;
    int end = 0;
    std::string name = dir.substr(dir.rfind('/') + 1);
    if (std::sscanf(name.c_str(), "pmix.%u.%u%n", &job, &step, &end) != 2 ||
        static_cast<size_t>(end) != name.size())
        return std::nullopt;
    auto own_job = item<uint32_t>(sp, S_JOB_ID);
    if (step != item<uint32_t>(sp, S_JOB_STEPID) || job > own_job ||
        own_job - job >= max_het_components)
        return std::nullopt;
    return dir;
}

// Where this plugin is installed ({cocoon_plugin} of modules: a step inside a container
// that runs srun needs it).
std::string plugin_path()
{
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&plugin_path), &info) == 0 || !info.dli_fname)
        return {};
    char real[PATH_MAX];
    return realpath(info.dli_fname, real) ? real : "";
}

template <typename Function>
void for_each_line(const std::string& text, Function function)
{
    size_t start = 0;
    while (start < text.size()) {
        size_t end = std::min(text.find('\n', start), text.size());
        function(text.substr(start, end - start));
        start = end + 1;
    }
}

// For the admin: which modules a step got and which optional ones were skipped (info).
// Everything the container receives, and from which module, the library logs at debug.
void log_plan(const std::string& text)
{
    for_each_line(text, [](const std::string& line) {
        if (line.starts_with("modules ") || line.starts_with("skipped "))
            slurm_info("cocoon: plan: %s", line.c_str());
    });
}

ResolvedOptions resolve_step_options(spank_t sp)
{
    // Relative mount sources: from the step's working directory, as srun saw them.
    auto job_value = [sp](const std::string& name) { return spank::job_env(sp, name); };
    return resolve_container_options(spank::typed_container_options(), job_value,
                                     current_directory(), false);
}

// The environment a container gives its tasks, on top of the job's.
void apply_container_environment(spank_t sp, const ImageConfig& image,
                                 const EnvironmentPairs& module_environment,
                                 const EnvironmentPairs& entrypoint_environment)
{
    apply_image_config(sp, image);
    for (const auto& [name, value] : module_environment)
        spank_setenv(sp, name.c_str(), value.c_str(), 1);
    for (const auto& [name, value] : entrypoint_environment)
        spank_setenv(sp, name.c_str(), value.c_str(), 1);
}

void start_container(spank_t sp, const spank::ImageRequest& request,
                     const ResolvedOptions& resolved, bool named)
{
    Config config = load_site_config();
    ContainerSpec spec;
    // slurmstepd has entered the step's working directory before user_init.
    spec.workdir = current_directory();
    spec.image = parse_image_reference(request.value, spec.workdir, config.default_registry);
    spec.image.resolved_digest =
        spank::step_resolved_digest(sp, spec.image, config.default_registry);

    uid_t uid = item<uid_t>(sp, S_JOB_UID);
    gid_t gid = item<gid_t>(sp, S_JOB_GID);
    std::vector<gid_t> groups = job_groups(sp);
    spec.identity = lookup_identity(uid, gid, groups);
    spec.cache_dir = resolve_cache_dir(config, spec.identity,
                                       spank::job_env(sp, "COCOON_CACHE_DIR").value_or(""));
    spec.keep_environment = spank::kept_environment();
    spec.options = container_options_for(resolved, config);
    spec.run_entrypoint = resolved.entrypoint.value_or(false);
    state.requested_workdir = spec.options.workdir;
    // The job's environment goes to the holder (as the user): the entrypoint starts from
    // it, and modules read it (COCOON_MODULES, the job's GPUs, SLURM_CONF).
    if (char** env = nullptr; spank_get_item(sp, S_JOB_ENV, &env) == ESPANK_SUCCESS && env)
        for (; *env; ++env)
            spec.environment.emplace_back(*env);
    spec.modules = spank::requested_modules();
    spec.cocoon_plugin = plugin_path();

    if (item<uint32_t>(sp, S_JOB_STEPID) == SLURM_BATCH_SCRIPT) {
        // The batch script lives in slurmd's spool directory: make it visible at the same
        // path so slurmstepd can execute it inside the container.
        int argc = 0;
        char** argv = nullptr;
        if (spank_get_item(sp, S_JOB_ARGV, &argc, &argv) == ESPANK_SUCCESS && argc > 0)
            spec.extra_files.emplace_back(argv[0]);
    }

    if (auto dir = pmix_server_directory(sp))
        spec.step_directories.push_back(*dir);

    Holder::Hooks hooks;
    hooks.in_child = [uid, gid, groups] { drop_to_job_user(uid, gid, groups); };
    hooks.write_id_maps = [&spec](pid_t pid) {
        RootEuid root;
        write_id_maps(pid, spec.identity, true, spec.options.user_is_outer_root());
    };
    spank::ImportReporter reporter;
    hooks.progress = [&reporter](const ImportEvent& event) { reporter(event); };
    // On the user's terminal (srun's stderr), like the import progress.
    hooks.entrypoint_log = [](const std::string& lines) {
        for_each_line(lines, [](const std::string& line) {
            slurm_spank_log("cocoon: entrypoint: %s", line.c_str());
        });
    };
    hooks.undumpable = true;
    hooks.kernel_mount = [&config](pid_t holder, const TrustedImageRequest& wanted) {
        UniqueFd mount = mount_trusted_kernel_image(config, holder, wanted);
        if (mount.valid())
            state.kernel_image = wanted.hex;
        return mount;
    };
    hooks.named = named;
    hooks.warm_mount = [&](pid_t, const std::string& key) {
        return provide_warm_mount(item<uint32_t>(sp, S_JOB_ID), spec, config, hooks, request.value,
                                  key);
    };
    state.workdir = spec.workdir;
    state.seccomp = SeccompProgram(config.seccomp);
    state.holder = std::make_unique<Holder>(Holder::start(spec, config, hooks));
    {
        RootEuid root;
        state.container_mnt_ns = std::move(open_namespaces(state.holder->pid()).mnt);
    }
    // Flat values the holder parsed out of the image and this process checked: no image
    // data is parsed here, in slurmstepd.
    ImageConfig image;
    image.env = state.holder->image_environment();
    image.working_dir = state.holder->image_workdir();
    apply_container_environment(sp, image, state.holder->module_environment(),
                                state.holder->entrypoint_environment());
    log_plan(state.holder->plan_text());
}

// The namespaces of the step's container, opened once here in slurmstepd rather than in
// each task: slurmstepd forks the tasks after user_init, and every task process inherits
// the descriptors (close-on-exec: the task's command does not).
void open_step_namespaces()
{
    try {
        RootEuid root;
        if (state.named) {
            state.namespaces = open_namespaces(state.named->pid);
            // Checked after opening: these are the holder's, not those of a reused pid.
            if (!named_holder_alive(*state.named))
                fail("the container named in --container-name has ended");
            if (state.named_no_exec) {
                state.namespaces->net = UniqueFd();
                state.namespaces->ipc = UniqueFd();
                state.namespaces->uts = UniqueFd();
            }
        } else if (state.holder) {
            state.namespaces = open_namespaces(state.holder->pid());
        }
    } catch (const std::exception& e) {
        state.namespaces.reset();
        throw Error(fmt::format("the container of this step: {}", e.what()));
    }
}

// --container-name: join the job's container of that name on this node, or create it.
void start_or_join_named(spank_t sp, const std::optional<spank::ImageRequest>& request,
                         const ResolvedOptions& resolved)
{
    const ContainerName& wanted = *resolved.name;
    const std::string& typed = resolved.name_source;
    const std::string& name = wanted.name;
    using Mode = ContainerName::Mode;
    std::optional<spank::NodeRecords> job;
    std::optional<NamedContainerRecord> existing;
    {
        RootEuid root;
        // Locked until this function returns: a step starting at the same time with the
        // same name waits, then joins what this one created.
        job = spank::NodeRecords::of_job(item<uint32_t>(sp, S_JOB_ID), true);
        existing = job->find(name);
    }
    if (existing && wanted.mode == Mode::Create)
        fail("{}: the job already has a container named '{}' on this node; use "
             "--container-name={} to join it, or choose another name",
             typed, name, name);
    if (!existing && wanted.mode == Mode::Exec)
        fail("{}: the job has no container named '{}' on this node; create it first "
             "(--container-name={} with --container-image=IMAGE)",
             typed, name, name);
    if (existing) {
        state.named = existing;
        state.named_no_exec = wanted.mode == Mode::NoExec;
        state.workdir = current_directory();
        state.requested_workdir = resolved.container.workdir;
        state.seccomp = SeccompProgram(load_site_config().seccomp);
        ImageConfig image;
        image.env = existing->image_environment;
        image.working_dir = existing->image_workdir;
        apply_container_environment(sp, image, existing->module_environment,
                                    existing->entrypoint_environment);
        return;
    }
    if (!request)
        fail("{}: the job has no container named '{}' on this node yet; give "
             "--container-image=IMAGE to create it",
             typed, name);
    state.locked_job = &*job;
    try {
        start_container(sp, *request, resolved, true);
    } catch (const Error& e) {
        state.locked_job = nullptr;
        throw e.wrap(fmt::format("{}={}", request->option, request->value));
    }
    state.locked_job = nullptr;
    state.holder_is_named = true;
    NamedContainerRecord record;
    record.pid = state.holder->pid();
    record.start_time = process_start_time(record.pid);
    record.image = request->value;
    record.image_environment = state.holder->image_environment();
    record.image_workdir = state.holder->image_workdir();
    record.module_environment = state.holder->module_environment();
    record.entrypoint_environment = state.holder->entrypoint_environment();
    RootEuid root;
    job->save(name, record);
}

// The job prolog and epilog: whatever named containers (and image holders) the job has on
// this node end; the records of users' image holders that have ended go.
void end_named_containers(spank_t sp) noexcept
{
    try {
        auto job_id = item<uint32_t>(sp, S_JOB_ID);
        RootEuid root;
        spank::remove_dead_user_records();
        auto job = spank::NodeRecords::of_job(job_id, false);
        if (!job)
            return;
        if (int ended = job->end_all())
            slurm_info("cocoon: ended %d named container(s) of job %u", ended, job_id);
    } catch (const std::exception& e) {
        slurm_error("cocoon: cannot end the named containers of the job: %s",
                    printable(e.what()).c_str());
    }
}

// The kernel mounts kept on the node (cocoon.yaml kernel_mount_linger) whose linger has
// passed go at the next job's start or end on the node; with the key (or kernel_mount)
// off, all of them; with a configuration that cannot be read, none. Never fails: a failed
// prolog or epilog would drain the node.
void release_expired_kernel_mounts(int ac, char** av) noexcept
{
    try {
        struct stat st {};
        if (lstat(COCOON_RUNTIME_DIR "/kernel-mounts", &st) != 0)
            return; // nothing kept: no configuration to read
        // Slurm calls no slurm_spank_init before the prolog and epilog: their own
        // arguments name the configuration.
        if (parse_plugin_arguments(ac, av) != 0)
            return;
        Config config = load_site_config();
        uint64_t linger = config.kernel_mount ? config.kernel_mount_linger : 0;
        RootEuid root;
        if (int released =
                cocoon::release_kept_kernel_mounts(COCOON_RUNTIME_DIR, linger, time(nullptr)))
            slurm_info("cocoon: released %d kept kernel mount(s)", released);
    } catch (const std::exception& e) {
        slurm_error("cocoon: cannot release the kept kernel mounts: %s",
                    printable(e.what()).c_str());
    }
}

// A step that kernel-mounted its image: the kept mount's linger counts from its end.
void note_kernel_image_use(const std::string& hex) noexcept
{
    try {
        RootEuid root;
        note_kept_kernel_mount_use(COCOON_RUNTIME_DIR, hex);
    } catch (const std::exception& e) {
        slurm_info("cocoon: image %s: %s", hex.c_str(), printable(e.what()).c_str());
    }
}

bool is_remote(spank_t sp)
{
    return spank_context() == S_CTX_REMOTE && spank_remote(sp);
}

void report(const std::string& message)
{
    // The task's stderr is the user's terminal (or the job's error file).
    std::string line = "cocoon: error: " + printable(message) + "\n";
    (void)!write(STDERR_FILENO, line.data(), line.size());
}

// The library's log goes to Slurm's: on the submit side `srun -v` (verbose) and `-vv`
// (debug) show it, on the node slurmd's log at its SlurmdDebug level.
void log_to_slurm(LogLevel level, std::string_view message)
{
    std::string line(message);
    switch (level) {
    case LogLevel::Error: slurm_error("cocoon: %s", line.c_str()); break;
    case LogLevel::Info: slurm_info("cocoon: %s", line.c_str()); break;
    case LogLevel::Verbose: slurm_verbose("cocoon: %s", line.c_str()); break;
    case LogLevel::Debug: slurm_debug("cocoon: %s", line.c_str()); break;
    }
}

} // namespace

extern "C" {

int slurm_spank_init(spank_t sp, int ac, char** av)
{
    set_log_sink(log_to_slurm);
    if (parse_plugin_arguments(ac, av) != 0)
        return -1;
    switch (spank_context()) {
    case S_CTX_LOCAL:
    case S_CTX_ALLOCATOR:
    case S_CTX_REMOTE: return spank::register_options(sp);
    default: return 0;
    }
}

// srun --container-save=PATH with neither an image nor a container name would save
// nothing: refuse it when typed. A value from the environment is left alone, since it may
// be meant for the job's other steps.
void check_save_has_container(const TypedOptions& typed, const ResolvedOptions& resolved)
{
    auto save = std::find_if(typed.begin(), typed.end(),
                             [](const auto& option) { return option.first == "container-save"; });
    if (save == typed.end() || resolved.name || spank::submitted_image())
        return;
    throw Error(fmt::format("--container-save={}: there is no container to save; add "
                            "--container-image=IMAGE or --container-name=NAME",
                            save->second));
}

// Submit side: the pyxis-style options and their PYXIS_CONTAINER_* / COCOON_CONTAINER_*
// variables, checked where the user can still fix them (mount sources as far as this host
// can tell). The node resolves them again from the job's environment.
int check_container_options(spank_context_t context)
{
    try {
        for (const char* name : spank::image_variables)
            if (const char* value = getenv(name); value && *value) {
                try {
                    parse_image_reference(value, current_directory());
                } catch (const Error& e) {
                    throw e.wrap(fmt::format("{}={}", name, value));
                }
            }
        auto typed = spank::typed_container_options();
        auto resolved =
            resolve_container_options(typed, process_environment, current_directory(), true);
        if (context == S_CTX_LOCAL)
            check_save_has_container(typed, resolved);
    } catch (const Error& e) {
        slurm_error("cocoon: %s", printable(e.what()).c_str());
        return -1;
    }
    return 0;
}

// Submit side (srun, sbatch, salloc): Slurm's own --container has no callback of ours, but
// its value is in the command's environment by now. Check its syntax so a bad value fails
// before a job is queued; --container-image was checked by its option callback.
int slurm_spank_init_post_opt(spank_t, int, char**)
{
    auto context = spank_context();
    if (context != S_CTX_LOCAL && context != S_CTX_ALLOCATOR)
        return 0;
    if (const char* value = getenv("SLURM_CONTAINER")) {
        try {
            parse_image_reference(value, current_directory());
        } catch (const Error& e) {
            slurm_error("cocoon: --container=%s: %s", printable(value).c_str(),
                        printable(e.what()).c_str());
            return -1;
        }
    }
    if (check_container_options(context) != 0)
        return -1;
    return 0;
}

// srun: a step's registry image by tag, on several nodes, is resolved here once for all
// of them (tag_resolution.h), unless the site turned that off or chose tag_check_interval.
void resolve_tag_for_step(spank_t sp, const std::optional<spank::ImageRequest>& request)
{
    auto site_allows = [] {
        try {
            Config config = load_site_config();
            return config.srun_resolves_tags && config.tag_check_interval == 0;
        } catch (const Error&) {
            return false; // the node reports what is wrong with the file
        }
    };
    spank::resolve_tag_for_step(sp, request ? request->value : "",
                                state.config_path_given ? state.config_path : "", site_allows);
}

// srun, just before it launches a step. srun applies -v to its log only after the option
// callbacks and init_post_opt ran, so this is where `srun -v` can show which image the
// step asks for and how cocoon reads its name.
int slurm_spank_local_user_init(spank_t sp, int, char**)
{
    auto request = spank::requested_image(sp);
    const char* container = getenv("SLURM_CONTAINER");
    if (!request && container && *container)
        request = spank::ImageRequest{"--container", container};
    resolve_tag_for_step(sp, request);
    if (!request || !log_enabled(LogLevel::Verbose))
        return 0;
    log(LogLevel::Verbose, "{}={}", request->option, request->value);
    try {
        parse_image_reference(request->value, current_directory());
    } catch (const Error&) {
        // Already refused by the option's callback or by init_post_opt.
    }
    return 0;
}

int slurm_spank_user_init(spank_t sp, int, char**)
{
    if (!is_remote(sp))
        return 0;
    auto request = spank::requested_image(sp);
    std::optional<ResolvedOptions> resolved;
    try {
        auto step = item<uint32_t>(sp, S_JOB_STEPID);
        if (step == SLURM_EXTERN_CONT)
            return 0;
        try {
            resolved = resolve_step_options(sp);
        } catch (const Error&) {
            if (!request)
                return 0; // not a container step: its options are not ours to judge
            throw;
        }
        if (!resolved->save.empty()) {
            state.save_path = resolved->save;
            state.uid = item<uid_t>(sp, S_JOB_UID);
            state.gid = item<gid_t>(sp, S_JOB_GID);
            state.groups = job_groups(sp);
        }
        if (resolved->name) {
            start_or_join_named(sp, request, *resolved);
            open_step_namespaces();
            return 0;
        }
        if (!request)
            return 0;
        if (request->option == "--container") {
            auto reference = parse_image_reference(request->value, current_directory());
            // An OCI bundle belongs to Slurm's own --container support (oci.conf).
            if (reference.kind == ImageReference::Kind::Path && is_oci_bundle(reference.path))
                return 0;
        }
        start_container(sp, *request, *resolved, false);
        open_step_namespaces();
    } catch (const std::exception& e) {
        // Named containers' messages say what was typed; the others' are the image's.
        bool named = resolved && resolved->name;
        state.error = printable(named || !request ? std::string(e.what())
                                                  : fmt::format("{}={}: {}", request->option,
                                                                request->value, e.what()));
        slurm_info("cocoon: %s", state.error.c_str());
    }
    return 0;
}

int slurm_spank_task_init(spank_t sp, int, char**)
{
    if (!is_remote(sp))
        return 0;
    if (!state.error.empty()) {
        // Once per step on this node, not once per task: the first task says why; every
        // task fails.
        int task = 0;
        if (spank_get_item(sp, S_TASK_ID, &task) != ESPANK_SUCCESS || task == 0)
            report(state.error);
        return -1;
    }
    if (!state.namespaces)
        return 0;
    try {
        join_namespaces(*state.namespaces);
        state.namespaces.reset();
        // --container-workdir, else the image's WorkingDir, else the step's directory.
        if (!state.requested_workdir.empty())
            enter_requested_workdir(state.requested_workdir);
        else
            enter_workdir(state.image_workdir, state.workdir);
        forbid_new_privileges();
        state.seccomp.load();
    } catch (const std::exception& e) {
        report(e.what());
        return -1;
    }
    return 0;
}

// --container-save: when the last task of the step on node 0 has ended, and before
// slurmstepd tells srun so (task_exit runs first), so the file is complete when srun
// returns. Slurm only logs what task_exit returns and the tasks' exit codes are already
// known: a failed save cannot fail the step; its reason goes to the step's stderr (srun's
// terminal) and the slurmd log.
int slurm_spank_task_exit(spank_t sp, int, char**)
{
    if (!is_remote(sp) || state.save_path.empty() || !state.error.empty())
        return 0;
    try {
        if (item<uint32_t>(sp, S_JOB_NODEID) != 0)
            return 0;
        if (++state.tasks_ended < item<uint32_t>(sp, S_JOB_LOCAL_TASK_COUNT))
            return 0;
        // The container's namespaces, opened in user_init and still held here.
        if (!state.namespaces)
            return 0;
        Config config = load_site_config();
        save_container(*state.namespaces, state.save_path, config,
                       [] { drop_to_job_user(state.uid, state.gid, state.groups); });
        slurm_info("cocoon: saved the container to %s", printable(state.save_path).c_str());
    } catch (const std::exception& e) {
        // slurmstepd's stderr is the step's by now: this one line reaches srun (or the
        // batch job's output) and the slurmd log. Returning an error would only add
        // Slurm's own two lines.
        slurm_error("cocoon: --container-save=%s: %s; the container was not saved",
                    printable(state.save_path).c_str(), printable(e.what()).c_str());
    }
    return 0;
}

int slurm_spank_exit(spank_t sp, int, char**)
{
    if (is_remote(sp) && !state.kernel_image.empty())
        note_kernel_image_use(state.kernel_image);
    if (is_remote(sp) && state.holder && state.holder_is_named) {
        // It serves the job's later steps; the job's end ends it (slurm_spank_job_epilog).
        state.holder->detach();
        state.holder.reset();
        state.container_mnt_ns = UniqueFd();
    } else if (is_remote(sp) && state.holder) {
        if (state.container_mnt_ns.valid()) {
            kill_namespace_members(state.container_mnt_ns.get());
            state.container_mnt_ns = UniqueFd();
        }
        state.holder->stop();
        state.holder.reset();
    }
    return 0;
}

// Job start (also after a requeue): a dead earlier run of this job id may have left named
// containers behind. Job end (also after scancel): end them. Never fails: a failed
// prolog or epilog would drain the node.
int slurm_spank_job_prolog(spank_t sp, int ac, char** av)
{
    end_named_containers(sp);
    release_expired_kernel_mounts(ac, av);
    return 0;
}

int slurm_spank_job_epilog(spank_t sp, int ac, char** av)
{
    end_named_containers(sp);
    release_expired_kernel_mounts(ac, av);
    return 0;
}

} // extern "C"
