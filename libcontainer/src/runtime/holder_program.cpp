// The holder program (cocoon-holder): the container's setup and owner, run as the job user.
//
// It is executed (never merely forked) by Holder::start after the switch to the job user,
// with a clean environment, so no memory of slurmstepd travels with it. Everything that
// reads hostile data happens here and nowhere in slurmstepd: the registry client (libcurl,
// OpenSSL), layer merging (libarchive), image configuration JSON, the image's entrypoint.
// What the parent needs from that data it receives as flat, validated frames
// (util/frames.h): environment pairs, a working directory, progress numbers.
//
// The conversation on the pipes (status: holder -> parent; control: parent -> holder):
//   <- request {spec, configuration}
//   -> progress ...                 while an image is imported
//   -> image-env NAME=VALUE ...     the image's Env, in order
//   -> image-workdir PATH           the image's WorkingDir, when set
//   -> plan TEXT                    the container's plan with its modules (for the log)
//   -> log LEVEL MESSAGE ...        what the setup logged (cocoon/log.h), at any point
//                                   before ready
//   -> module-env NAME=VALUE ...    the variables the modules set for the tasks
//   -> warm KEY                     warm_mount_linger: the image file's identity
//   <- warm + 3 descriptors         the job's image holder's user and mount namespaces
//                                   and a lease (runtime/warm_mount.cpp), then no
//                                   "maps" and no "kernel-mount"; or
//   <- cold                         mount it ourselves:
//   -> maps                         the user namespace exists: write its id maps
//   <- go
//   -> kernel-mount CACHE HEX       an image of a shared cache (cocoon.yaml kernel_mount)
//   <- kernel-mount + descriptor    a detached kernel mount of it, or
//   <- fuse                         not trusted or not possible: squashfuse mounts it
//   -> entrypoint-env NAME=VALUE... with --container-entrypoint
//   -> ready                        (or: -> error MESSAGE, at any point)
//   <- end of stream                the step is over: unmount and exit (a named
//                                   container stays until it is killed)
//
// After "ready" the parent reads no more frames. The holder's stderr is the write end of
// a non-blocking pipe whose read end the parent keeps and drains into its log when the
// step ends (util/log_pipe.h): from "ready" on, the holder logs there, and forwards there,
// line by line, what squashfuse writes on its stderr (an I/O error while a task reads the
// image). A full pipe drops lines and counts them; nothing ever waits on it.
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <tuple>

#include "cocoon/child_process.h"
#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/image.h"
#include "cocoon/image_config.h"
#include "cocoon/log.h"
#include "cocoon/modules.h"
#include "cocoon/plan.h"
#include "entrypoint.h"
#include "holder_process.h"
#include "modules/replaced_libraries.h"
#include "rootfs.h"
#include "runtime/spec_wire.h"
#include "runtime/warm_mount_internal.h"
#include "util/fd_passing.h"
#include "util/frames.h"
#include "util/log_pipe.h"
#include "util/sys.h"

namespace cocoon {

namespace {

constexpr size_t max_request_bytes = 16 << 20;
constexpr size_t max_plan_text = 64 << 10;

std::string format_progress(const ImportEvent& event)
{
    return fmt::format("{} {} {} {} {} {} {}", static_cast<int>(event.phase), event.layer,
                       event.layers, event.bytes, event.total_bytes, event.cached ? 1 : 0,
                       event.image);
}

void send_entrypoint_environment(const ContainerSpec& spec, const Config& config,
                                 const ImageConfig& image, int status_fd)
{
    if (image.entrypoint.empty())
        return;
    auto input = entrypoint_input(image, spec);
    std::string log;
    std::vector<std::string> output;
    try {
        output = run_entrypoint(image, spec, input, config.seccomp,
                                spec.options.entrypoint_log ? &log : nullptr);
    } catch (const Error&) {
        if (!log.empty())
            sys::write_frame(status_fd, "entrypoint-log", log);
        throw;
    }
    if (!log.empty())
        sys::write_frame(status_fd, "entrypoint-log", log);
    for (const auto& [name, value] : environment_changes(input, output))
        sys::write_frame(status_fd, "entrypoint-env", name + "=" + value);
}

// The modules' variables, computed from what each would be without them: the job's value
// with the image's Env applied.
void send_module_environment(const ContainerSpec& spec, const ImageConfig& image, const Plan& plan,
                             int status_fd)
{
    if (plan.environment.empty())
        return;
    auto job = environment_map(spec.environment);
    auto current = job;
    auto lookup = [&job](const std::string& name) -> std::optional<std::string> {
        auto found = job.find(name);
        return found == job.end() ? std::nullopt : std::optional<std::string>(found->second);
    };
    for (const auto& [name, value] : image_environment(image, lookup, spec.keep_environment))
        current[name] = value;
    for (const auto& [name, value] : module_environment(plan.environment, current, job))
        sys::write_frame(status_fd, "module-env", name + "=" + value);
}

// --container-unshare: private network (loopback only, brought up), IPC and UTS
// namespaces, owned by the container's user namespace; tasks join them like the others.
void unshare_requested(const UnshareRequest& request)
{
    const std::array<std::tuple<bool, int, const char*, const char*>, 3> table = {{
        {request.net, CLONE_NEWNET, "net", "network"},
        {request.ipc, CLONE_NEWIPC, "ipc", "IPC"},
        {request.uts, CLONE_NEWUTS, "uts", "UTS (hostname)"},
    }};
    for (const auto& [wanted, flag, name, what] : table)
        if (wanted && unshare(flag) != 0)
            throw_errno(fmt::format("--container-unshare={}: this node cannot give the container "
                                    "a private {} namespace; leave {} out or ask your admin",
                                    name, what, name));
    if (!request.net)
        return;
    UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct ifreq lo {};
    std::snprintf(lo.ifr_name, sizeof(lo.ifr_name), "lo");
    if (!sock.valid() || ioctl(sock.get(), SIOCGIFFLAGS, &lo) != 0)
        throw_errno("--container-unshare=net: cannot find the loopback interface");
    lo.ifr_flags = static_cast<short>(lo.ifr_flags | IFF_UP);
    if (ioctl(sock.get(), SIOCSIFFLAGS, &lo) != 0)
        throw_errno("--container-unshare=net: cannot bring the loopback interface up");
}

std::string own_map(const char* name)
{
    UniqueFd fd(open(fmt::format("/proc/self/{}", name).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
        throw_errno(fmt::format("cannot read /proc/self/{}", name));
    return sys::read_file(fd.get(), 64 << 10);
}

// Without --container-remap-root: the holder built the container as uid 0 of the outer
// user namespace (where the image's root-owned files are the user's); the tasks must be
// the user themselves. On a warm mount the image holder has made that namespace already
// (it is the same for every step that shares its mount), else this holder makes its own.
// Either way it moves into it; the tasks join it last.
void enter_inner_user_namespace(const Identity& identity, const WarmImage* warm)
{
    UniqueFd ns;
    if (warm)
        ns = warm->inner_user_namespace();
    if (!ns.valid())
        ns = make_inner_user_namespace(identity);
    if (setns(ns.get(), CLONE_NEWUSER) != 0)
        throw_errno("cannot enter the inner user namespace");
}

// Asks the parent to mount an image of a shared cache with the kernel. The parent checks
// it as root and answers with a detached mount, or "fuse" when it will not.
void ask_for_kernel_mount(ImageSource& image, int status_fd, int control_fd)
{
    auto trusted = image.trusted_image();
    if (!trusted)
        return;
    sys::write_frame(status_fd, "kernel-mount", format_trusted_image_request(*trusted));
    sys::Frame answer = sys::read_frame(control_fd, 0);
    if (answer.type == "kernel-mount")
        image.use_kernel_mount(sys::receive_fd(control_fd));
    else if (answer.type != "fuse")
        _exit(1); // the parent gave up
}

// A task's background child outlives its task when Slurm's process tracking does not
// follow it (proctrack/linuxproc reparents it to init), and it would keep the container,
// its mounts and the image alive after the step. At the end of the step, end every process
// still in this container's mount namespace (they are the user's, as this process is).
// Under Slurm the plugin does the same at the end of the step, because process tracking may
// have ended this holder first (it is a child of slurmstepd).
void end_leftover_processes() noexcept
{
    UniqueFd own(open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
    if (own.valid())
        kill_namespace_members(own.get());
}

// The setup's log goes to the parent as frames, which it hands to its own log sink (Slurm's
// log in the plugin, stderr in cocoon run). The parent stops reading at "ready", so the
// holder logs to the log pipe (its stderr) from there on.
int log_status_fd = -1;

void send_log(LogLevel level, std::string_view message)
{
    sys::write_frame(log_status_fd, "log", fmt::format("{} {}", static_cast<int>(level), message));
}

// The parent names the holder as the source of everything on this pipe.
sys::LogPipeWriter log_pipe("", STDERR_FILENO);

void write_log_to_pipe(LogLevel, std::string_view message)
{
    log_pipe.write(message);
}

// Until the end of the step (the end of the control stream): forwards what the image's
// server prints to the log pipe meanwhile.
void wait_for_end_of_step(int control_fd, sys::OutputForwarder& server)
{
    for (;;) {
        struct pollfd fds[2] = {{control_fd, POLLIN, 0}, {server.fd(), POLLIN, 0}};
        if (poll(fds, server.fd() >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("poll");
        }
        if (server.fd() >= 0 && fds[1].revents != 0)
            server.pump();
        if (fds[0].revents != 0 && sys::read_frame(control_fd, 0).type.empty())
            return;
    }
}

void serve(int status_fd, int control_fd, bool named)
{
    ContainerSpec spec;
    Config config;
    read_holder_request(control_fd, "the holder program", spec, config);

    auto image = open_image(spec, config, [status_fd](const ImportEvent& event) {
        sys::write_frame(status_fd, "progress", format_progress(event));
    });
    ImageConfig image_config = parse_image_config(image->config());
    for (const auto& [name, value] : image_config.env)
        sys::write_frame(status_fd, "image-env", name + "=" + value);
    if (!image_config.working_dir.empty())
        sys::write_frame(status_fd, "image-workdir", image_config.working_dir);
    // Modules are resolved here, before any namespace exists: the host is still in view,
    // and a module that cannot be applied fails the step with nothing mounted yet.
    Plan plan = plan_with_modules(spec, config);
    std::string plan_text = format_plan(plan);
    sys::write_frame(status_fd, "plan", plan_text.substr(0, max_plan_text));
    send_module_environment(spec, image_config, plan, status_fd);

    // With warm_mount_linger: the job's image holder's namespaces and mount, else our own.
    auto warm = join_warm_mount(*image, config, status_fd, control_fd);
    if (!warm)
        create_container_namespaces(*image, status_fd, control_fd);
    unshare_requested(spec.options.unshare);
    // A writable root on a warm mount: one the image holder kept from an earlier step of
    // the same plan, whose caches are warm (overlay_pool.h).
    UniqueFd kept_overlay;
    if (warm && plan.writable)
        kept_overlay = warm->writable_root(overlay_plan_key(plan_text), plan.writable_size);
    bool kept = kept_overlay.valid();
    assemble_rootfs(plan, warm ? *warm : *image, spec, std::move(kept_overlay));
    if (kept)
        warm->setup_done();
    // The image is visible now: its own MPI library decides whether the host's may stand in.
    check_replaced_libraries(plan.replaced_libraries);
    if (spec.options.user_is_outer_root() && !spec.options.remap_root)
        enter_inner_user_namespace(spec.identity, warm.get());
    if (spec.run_entrypoint)
        send_entrypoint_environment(spec, config, image_config, status_fd);
    sys::OutputForwarder server("squashfuse", image->take_output(), STDERR_FILENO);
    set_log_sink(write_log_to_pipe, LogLevel::Debug);
    sys::write_frame(status_fd, "ready");
    // From now on the end of the step is the end of the control stream, also when the
    // parent dies (its descriptors close): the parent-death SIGKILL would kill this
    // process before it could end what the tasks left behind and unmount.
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    wait_for_end_of_step(control_fd, server);
    // A named container serves the job's later steps: it goes when the job ends, with a
    // SIGKILL to every process in it (the plugin's job epilog), mounts with the namespace.
    // Nobody reads its log pipe any more (and the server's stderr never blocks the server).
    if (named)
        for (;;)
            pause();
    end_leftover_processes();
    image->stop();
    server.finish();
    log_pipe.finish();
}

} // namespace

// A child creates the inner user namespace, this process (privileged in the outer one)
// writes its maps -- the user's uid and gid back where they belong, every other mapped id
// to itself -- and keeps a descriptor of it; the child then ends.
UniqueFd make_inner_user_namespace(const Identity& identity)
{
    int ready[2], done[2];
    if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(done, O_CLOEXEC) != 0)
        throw_errno("pipe");
    UniqueFd ready_read(ready[0]), ready_write(ready[1]), done_read(done[0]), done_write(done[1]);
    // A child that executes nothing: it only makes the namespace and waits.
    ChildProcess child = ChildProcess::run([&]() -> int {
        // Nothing but its two pipes: the holder (this process's parent) may only open the
        // /proc files of a dumpable process (an undumpable one's are global root's), and
        // this child is dumpable for the few moments until the holder has opened its
        // namespace.
        int keep[] = {ready_write.get(), done_read.get()};
        std::sort(std::begin(keep), std::end(keep));
        close_range(3, static_cast<unsigned>(keep[0]) - 1, 0);
        close_range(static_cast<unsigned>(keep[0]) + 1, static_cast<unsigned>(keep[1]) - 1, 0);
        close_range(static_cast<unsigned>(keep[1]) + 1, ~0U, 0);
        char byte =
            prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0 && unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
        (void)!write(ready_write.get(), &byte, 1);
        (void)!read(done_read.get(), &byte, 1); // until the parent has opened it
        return 0;
    });
    if (!child.running())
        throw_errno("cannot create the inner user namespace");
    ready_write.reset();
    done_read.reset();
    auto finish = [&] {
        done_write.reset();
        child.wait();
    };
    try {
        char byte = 'n';
        if (read(ready_read.get(), &byte, 1) != 1 || byte != 'y')
            fail("cannot create the inner user namespace");
        auto proc = fmt::format("/proc/{}/", child.pid());
        sys::write_file(proc + "uid_map", inner_id_map_text(own_map("uid_map"), identity.uid));
        sys::write_file(proc + "setgroups", "deny");
        sys::write_file(proc + "gid_map", inner_id_map_text(own_map("gid_map"), identity.gid));
        UniqueFd ns(open((proc + "ns/user").c_str(), O_RDONLY | O_CLOEXEC));
        if (!ns.valid())
            throw_errno("cannot open the inner user namespace");
        finish();
        return ns;
    } catch (...) {
        finish();
        throw;
    }
}

void create_container_namespaces(ImageSource& image, int status_fd, int control_fd)
{
    if (unshare(CLONE_NEWUSER) != 0)
        throw_errno("cannot create a user namespace (node prerequisite: unprivileged "
                    "user namespaces enabled; ask your admin)");
    sys::write_frame(status_fd, "maps");
    if (sys::read_frame(control_fd, 0).type != "go")
        _exit(1); // the parent gave up
    // Now that the user namespace exists: the kernel mount shows the image's owners
    // through it.
    ask_for_kernel_mount(image, status_fd, control_fd);
    if (unshare(CLONE_NEWNS) != 0)
        throw_errno("cannot create a mount namespace");
}

void read_holder_request(int control_fd, const char* program, ContainerSpec& spec, Config& config)
{
    sys::Frame request = sys::read_frame(control_fd, max_request_bytes);
    if (request.type != "request")
        fail("{} expected a request, got '{}'", program, request.type);
    decode_holder_request(request.payload, spec, config);
}

int run_holder_process(int status_fd, bool undumpable, const std::function<void()>& serve) noexcept
{
    try {
        // Nothing this process or its children execute may gain privileges; started by
        // the plugin, not even the user's other processes may inspect or ptrace it.
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            throw_errno("cannot set no_new_privs");
        if (undumpable && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
            throw_errno("cannot make the holder undumpable");
        log_status_fd = status_fd;
        set_log_sink(send_log, LogLevel::Debug);
        serve();
        return 0;
    } catch (const std::exception& e) {
        try {
            sys::write_frame(status_fd, "error", e.what());
        } catch (...) {
        }
        return 1;
    }
}

int run_holder_program(int status_fd, int control_fd, bool undumpable, bool named) noexcept
{
    return run_holder_process(status_fd, undumpable, [&] { serve(status_fd, control_fd, named); });
}

} // namespace cocoon
