// The container of one step on one node.
//
// A small holder process owns the container's user and mount namespaces and keeps the
// image mounted while tasks run; every task joins it with setns before its command is
// executed. The holder is started once per node per step and stopped at the end of the
// step; when it goes, its namespaces and mounts go with the last task.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cocoon/child_process.h"
#include "cocoon/config.h"
#include "cocoon/image.h"
#include "cocoon/importer.h"
#include "cocoon/kernel_mount.h"
#include "cocoon/spec.h"
#include "cocoon/unique_fd.h"
#include "cocoon/warm_mount.h"

namespace cocoon {

class Holder {
public:
    struct Hooks {
        // Runs first in the holder's child. The SPANK plugin drops from root to the job
        // user here; the CLI, already unprivileged, leaves it empty. Unless `named`, that
        // child shares the caller's memory (ChildProcess::spawn): credentials change by
        // raw system calls only.
        std::function<void()> in_child;
        // Runs in the parent once the holder has its new user namespace: writes its id
        // maps (see write_id_maps).
        std::function<void(pid_t)> write_id_maps;
        // Receives the progress of an image import, in the parent.
        ImportProgress progress;
        // With --container-entrypoint-log: what the image's entrypoint printed, control
        // characters escaped, one line after another (also when it failed).
        std::function<void(const std::string&)> entrypoint_log;
        // The holder makes itself undumpable: not even the user's other processes may
        // ptrace it or open its /proc entries (the plugin; the CLI joins its holder as the
        // same user, so it cannot ask for this).
        bool undumpable = false;
        // Asked when the image lies in a shared cache and cocoon.yaml has kernel_mount:
        // returns a detached kernel mount of it for holder `pid` (mount_trusted_squashfs,
        // as root), or an invalid descriptor to leave it to squashfuse. Empty: squashfuse.
        std::function<UniqueFd(pid_t, const TrustedImageRequest&)> kernel_mount;
        // A named container (--container-name): the holder outlives the end of the step
        // (the end of its control stream) and stays until it is killed, when the job ends.
        bool named = false;
        // With warm_mount_linger, asked when the holder's image is a squashfs file: `key`
        // names the file (checked by valid_warm_mount_key). Returns the job's image
        // holder's namespaces and a lease on it (the plugin: lease_warm_mount, as root), or
        // nothing to let the holder mount the image itself. Empty: always itself.
        std::function<std::optional<WarmMount>(pid_t, const std::string& key)> warm_mount;
        // Non-empty: start an image holder for the image file `image_holder_key` instead of
        // a container (cocoon/warm_mount.h); usually with `named`, so that it outlives the
        // step that starts it.
        std::string image_holder_key;
    };

    // Starts the holder program (cocoon-holder, installed next to this library: checked to
    // be changeable only by root or the caller, then executed with a clean environment
    // after hooks.in_child) and waits until the container is ready. Throws Error with the
    // holder's one-line reason when it could not be built; nothing is left behind then.
    static Holder start(const ContainerSpec& spec, const Config& config, const Hooks& hooks);

    Holder(Holder&& other) noexcept;
    Holder& operator=(Holder&& other) noexcept;
    Holder(const Holder&) = delete;
    Holder& operator=(const Holder&) = delete;
    ~Holder();

    pid_t pid() const noexcept { return pid_; }

    // From the image configuration, parsed by the holder and checked here: its Env (in
    // image order) and its WorkingDir (empty when unset).
    const std::vector<std::pair<std::string, std::string>>& image_environment() const noexcept
    {
        return image_environment_;
    }
    const std::string& image_workdir() const noexcept { return image_workdir_; }

    // With spec.run_entrypoint: the variables the image's entrypoint set or changed, to be
    // given to every task (they win over the job's and the image's values).
    const std::vector<std::pair<std::string, std::string>>& entrypoint_environment() const noexcept
    {
        return entrypoint_environment_;
    }

    // The variables the active modules give the tasks (applied after the image's Env).
    const std::vector<std::pair<std::string, std::string>>& module_environment() const noexcept
    {
        return module_environment_;
    }

    // The container's plan, as format_plan() prints it (one operation a line, each
    // naming its module): for the admin's log.
    const std::string& plan_text() const noexcept { return plan_text_; }

    // Tells the holder to stop, waits for it (SIGKILL after a grace period) and reaps it.
    // What the holder and squashfuse wrote on their stderr goes to the log (cocoon/log.h).
    void stop() noexcept;

    // Lets a named holder go on without this object: its control stream ends (which a
    // named holder ignores) and nothing waits for it. Its stderr so far goes to the log.
    void detach() noexcept;

private:
    Holder(pid_t pid, ChildProcess process, UniqueFd control, UniqueFd log) noexcept;
    // Reads the holder's frames until "ready"; returns "" then, else the reason it failed.
    std::string receive(int status_fd, const Hooks& hooks);
    void answer_kernel_mount(const std::string& payload, const Hooks& hooks);
    // Moves what waits in the log pipe (the holder's stderr) into the log; never blocks.
    void drain_log() noexcept;
    void answer_warm_mount(const std::string& payload, const Hooks& hooks);
    pid_t pid_ = -1; // also a named holder's, which is not this process's child
    ChildProcess process_; // the holder, or the parent that a named holder left
    UniqueFd control_;
    UniqueFd log_; // the read end of the log pipe (util/log_pipe.h)
    size_t log_bytes_ = 0;
    std::vector<std::pair<std::string, std::string>> image_environment_;
    std::string image_workdir_;
    std::vector<std::pair<std::string, std::string>> entrypoint_environment_;
    std::vector<std::pair<std::string, std::string>> module_environment_;
    std::string plan_text_;
};

// The body of the holder program (helper/cocoon_holder.cpp): serves one container over
// the two descriptors Holder::start gave it. Returns its exit status.
// With `named`, it stays after the end of the control stream until it is killed.
int run_holder_program(int status_fd, int control_fd, bool undumpable, bool named) noexcept;

// The body of the holder program started with --image-holder KEY (Hooks::image_holder_key):
// keeps the image mounted for the job's steps until no step has used it for
// warm_mount_linger seconds. Returns its exit status.
int run_image_holder_program(int status_fd, int control_fd, bool undumpable,
                             const std::string& key) noexcept;

// Writes the id maps of the user namespace of holder `pid`. With `user_is_root`
// (ContainerOptions::user_is_outer_root) the user is uid 0 there and their primary group
// gid 0, so the image's root-owned files are theirs; without --container-remap-root the
// holder then moves into an inner user namespace where the user is themselves again
// (runtime/holder_program.cpp), which the tasks join last. Otherwise the user and their
// groups map to themselves. Each supplementary group maps to itself. With
// `with_supplementary_groups` the caller must be privileged (root in slurmstepd); without,
// an unprivileged parent maps just its uid and gid.
void write_id_maps(pid_t pid, const Identity& identity, bool with_supplementary_groups,
                   bool user_is_root);

// The namespaces of a running container, opened before the first setns.
struct NamespaceFds {
    UniqueFd user; // the outer user namespace, which owns the others
    UniqueFd mnt;
    // Where the user is themselves (invalid with --container-remap-root): joined last.
    UniqueFd inner_user;
    // Only those --container-unshare made private; invalid otherwise.
    UniqueFd net;
    UniqueFd ipc;
    UniqueFd uts;
};

// Opens the user and mount namespaces of holder `pid`. In slurmstepd this runs as root
// (user_init, effective uid raised): the holder changed credentials and is not dumpable, so a
// privileged process may open its /proc/PID/ns entries.
NamespaceFds open_namespaces(pid_t pid);

// Sends SIGKILL to every process in the mount namespace `mnt_ns` (an open
// /proc/PID/ns/mnt) except the caller, and returns how many there were. Only the
// container's own processes are in it: the tasks, and what they left running. Holding the
// descriptor keeps the namespace, and so its identity, alive.
int kill_namespace_members(int mnt_ns) noexcept;

// Moves the calling (single-threaded) process into those namespaces. Its root and working
// directory become the container's root.
void join_namespaces(const NamespaceFds& namespaces);

// Both, for a process of the same user (the CLI).
void join_container(pid_t pid);

// Enters `workdir` inside the container; when the container has no such directory, the
// image's working directory (`image_workdir`), else /.
void enter_workdir(const std::string& workdir, const std::string& image_workdir = {});

// Enters --container-workdir `path` (relative: from the container's root); throws Error
// naming it when the container has no such directory.
void enter_requested_workdir(const std::string& path);

// Sets no_new_privs: nothing executed in the container can gain privileges.
void forbid_new_privileges();

// The seccomp filter of cocoon.yaml, compiled to its BPF program once per step and node
// (libseccomp takes about a millisecond for that), so that each task only installs it.
class SeccompProgram {
public:
    SeccompProgram() = default; // no filter: load() does nothing
    // Builds and compiles the filter of `settings` (none when disabled); throws Error.
    explicit SeccompProgram(const Config::Seccomp& settings);

    // Installs it on the calling process, which must be single-threaded and have
    // no_new_privs set: the last step before a task's command is executed. Throws Error.
    void load() const;

    bool empty() const noexcept { return code_.empty(); }

private:
    std::vector<uint64_t> code_; // the program's instructions (struct sock_filter, 8 bytes)
};

// Installs the seccomp filter of config.seccomp (nothing when it is disabled) on the
// calling process, as SeccompProgram(config.seccomp).load() does. Throws Error naming
// what failed.
void apply_seccomp(const Config& config);

// What that filter covers, as lines for `cocoon run --dry-run`: the architectures, and the
// denied system calls grouped by the errno they return.
std::string describe_seccomp(const Config& config);

} // namespace cocoon
