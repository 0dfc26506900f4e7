#include "cocoon/plan.h"

#include <array>

#include <fmt/ranges.h>

#include "cocoon/error.h"
#include "modules/library_abi.h"

namespace cocoon {

namespace {

// Host devices every container gets, bound from the node's /dev.
constexpr std::array device_nodes = {"null", "zero", "full", "random", "urandom", "tty", "ptmx"};

// Top-level directories of the image that a bind of the working directory must not cover.
constexpr std::array system_dirs = {"/bin",   "/boot",   "/dev",  "/etc",  "/lib", "/lib32",
                                    "/lib64", "/libx32", "/proc", "/sbin", "/sys", "/usr"};

bool is_inside(const std::string& path, const std::string& dir)
{
    if (dir == "/")
        return true;
    return path == dir || (path.starts_with(dir) && path[dir.size()] == '/');
}

MountOp make_op(OpKind kind, std::string target, std::string source = {}, std::string options = {})
{
    MountOp op;
    op.kind = kind;
    op.target = std::move(target);
    op.source = std::move(source);
    op.options = std::move(options);
    return op;
}

MountOp bind(std::string source, std::string target, bool read_only)
{
    MountOp op = make_op(OpKind::BindHost, std::move(target), std::move(source));
    op.read_only = read_only;
    return op;
}

MountOp generated(std::string target, std::string generator)
{
    MountOp op = make_op(OpKind::GeneratedFile, std::move(target), std::move(generator));
    op.read_only = true;
    return op;
}

void add_dev(std::vector<MountOp>& ops)
{
    ops.push_back(make_op(OpKind::Tmpfs, "/dev", "", "mode=0755,size=64k"));
    for (const char* node : device_nodes) {
        MountOp op = bind(std::string("/dev/") + node, std::string("/dev/") + node, false);
        op.device = true;
        op.optional = std::string(node) == "tty";
        ops.push_back(op);
    }
    // The host's devpts, not a new instance: the terminal of `srun --pty` lives there, and
    // `tty` in the task must find it under /dev/pts.
    MountOp pts = bind("/dev/pts", "/dev/pts", false);
    pts.device = true;
    ops.push_back(pts);
    ops.push_back(make_op(OpKind::Tmpfs, "/dev/shm", "", "mode=1777"));
    ops.push_back(make_op(OpKind::Symlink, "/dev/fd", "/proc/self/fd"));
    ops.push_back(make_op(OpKind::Symlink, "/dev/stdin", "/proc/self/fd/0"));
    ops.push_back(make_op(OpKind::Symlink, "/dev/stdout", "/proc/self/fd/1"));
    ops.push_back(make_op(OpKind::Symlink, "/dev/stderr", "/proc/self/fd/2"));
}

// The mounts asked for with --container-mounts, after the defaults so that they win.
void add_requested_mounts(const ContainerSpec& spec, std::vector<MountOp>& ops)
{
    for (const auto& mount : spec.options.mounts) {
        MountOp op = bind(mount.source, mount.target, mount.read_only);
        op.recursive = mount.recursive;
        op.noexec = mount.noexec;
        op.propagation = mount.propagation;
        ops.push_back(op);
    }
    if (spec.options.unshare.ipc)
        ops.push_back(make_op(OpKind::Mqueue, "/dev/mqueue"));
}

// "umount:PATH" entries of --container-mounts: leave out the default mount at PATH.
void remove_unmounted(const ContainerSpec& spec, std::vector<MountOp>& ops)
{
    for (const auto& path : spec.options.unmounts) {
        if (path == "/proc" || path == "/sys" || path == "/dev")
            fail("umount:{}: the container needs its {}; it cannot be left out", path, path);
        auto removed = std::erase_if(ops, [&](const MountOp& op) { return op.target == path; });
        if (removed == 0) {
            std::string targets;
            for (const auto& op : ops)
                targets += (targets.empty() ? "" : ", ") + op.target;
            fail("umount:{}: the container has no default mount there (it has: {})", path, targets);
        }
    }
}

} // namespace

bool is_system_path(const std::string& path)
{
    if (path == "/")
        return true;
    for (const char* dir : system_dirs)
        if (is_inside(path, dir))
            return true;
    return false;
}

Plan plan_container(const ContainerSpec& spec, const Config& config)
{
    Plan plan;
    plan.image = spec.image.kind == ImageReference::Kind::Path ? spec.image.path : spec.image.text;
    auto& ops = plan.ops;

    // The tasks share the host's PID namespace (they are slurmstepd's children), and a user
    // namespace may mount a new procfs only for a PID namespace it owns: bind the host's.
    MountOp proc = bind("/proc", "/proc", false);
    proc.recursive = true;
    ops.push_back(proc);
    MountOp sys = bind("/sys", "/sys", true);
    sys.recursive = true;
    ops.push_back(sys);
    add_dev(ops);
    ops.push_back(make_op(OpKind::Tmpfs, "/tmp", "", "mode=1777"));

    for (const auto& file : config.host_files) {
        MountOp op = bind(file, file, true);
        op.optional = true;
        ops.push_back(op);
    }
    ops.push_back(generated("/etc/passwd", "passwd"));
    ops.push_back(generated("/etc/group", "group"));

    const auto& home = spec.identity.home;
    bool mount_home = spec.options.mount_home.value_or(config.mount_home);
    bool home_bound = mount_home && !home.empty() && !is_system_path(home);
    if (home_bound) {
        MountOp op = bind(home, home, false);
        op.recursive = true;
        op.optional = true;
        ops.push_back(op);
    }
    // The working directory keeps its host path so relative paths in the job work. Not
    // bound: system directories of the image, a path already under the bound home, and
    // /tmp itself (the container's /tmp stays private).
    const auto& workdir = spec.workdir;
    if (config.mount_workdir && !workdir.empty() && !is_system_path(workdir) &&
        !(home_bound && is_inside(workdir, home)) && workdir != "/tmp") {
        MountOp op = bind(workdir, workdir, false);
        op.recursive = true;
        ops.push_back(op);
    }
    for (const auto& file : spec.extra_files)
        ops.push_back(bind(file, file, true));
    for (const auto& dir : spec.step_directories)
        ops.push_back(bind(dir, dir, false));
    remove_unmounted(spec, ops);
    add_requested_mounts(spec, ops);
    plan.writable = spec.options.writable;
    plan.writable_size = config.writable_size;
    return plan;
}

std::string format_plan(const Plan& plan)
{
    std::string text =
        plan.writable
            ? fmt::format("root      {} (writable overlay, {} bytes in memory, nosuid, nodev)\n",
                          plan.image, plan.writable_size)
            : fmt::format("root      {} (read-only, nosuid, nodev)\n", plan.image);
    if (!plan.modules.empty())
        text += fmt::format("modules   {}\n", fmt::join(plan.modules, ", "));
    for (const auto& op : plan.ops) {
        std::string flags;
        auto add = [&](bool on, const char* name) {
            if (on)
                flags += flags.empty() ? name : std::string(",") + name;
        };
        add(op.read_only, "ro");
        add(op.recursive, "rec");
        add(op.optional, "optional");
        add(op.device, "dev");
        add(op.noexec, "noexec");
        add(!op.propagation.empty(), op.propagation.c_str());
        switch (op.kind) {
        case OpKind::BindHost:
            text += fmt::format("bind      {} <- {}", op.target, op.source);
            break;
        case OpKind::Tmpfs: text += fmt::format("tmpfs     {} ({})", op.target, op.options); break;
        case OpKind::Symlink:
            text += fmt::format("symlink   {} -> {}", op.target, op.source);
            break;
        case OpKind::GeneratedFile:
            text += fmt::format("generate  {} ({})", op.target, op.source);
            break;
        case OpKind::WriteFile:
            text += fmt::format("file      {} ({} bytes{})", op.target, op.content.size(),
                                op.executable ? ", executable" : "");
            break;
        case OpKind::Mqueue: text += fmt::format("mqueue    {}", op.target); break;
        }
        if (!flags.empty())
            text += fmt::format(" [{}]", flags);
        text += op.module.empty() ? "\n" : fmt::format(" (module {})\n", op.module);
    }
    for (const auto& change : plan.environment) {
        switch (change.kind) {
        case EnvironmentChange::Kind::Set:
            text += fmt::format("env       {}={}", change.name, change.value);
            break;
        case EnvironmentChange::Kind::Prepend:
            text += fmt::format("env       {} prepend {}", change.name, change.value);
            break;
        case EnvironmentChange::Kind::Pass:
            text += fmt::format("env       {} from the job", change.name);
            break;
        }
        text += fmt::format(" (module {})\n", change.module);
    }
    for (const auto& replaced : plan.replaced_libraries)
        text += replaced.host_path.empty()
                    ? fmt::format("abi       {}: refused if the image has it, no {} on this node "
                                  "(module {})\n",
                                  replaced.image_soname, replaced.host_soname, replaced.module)
                    : fmt::format("abi       {} <- {} {}, policy {} (module {})\n",
                                  replaced.image_soname, replaced.host_path,
                                  format_library_version(replaced.host_version),
                                  abi_policy_name(replaced.policy), replaced.module);
    for (const auto& skipped : plan.skipped)
        text += fmt::format("skipped   {}\n", skipped);
    return text;
}

} // namespace cocoon
