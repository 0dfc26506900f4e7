#include "cocoon/plan.h"

#include <array>

#include "cocoon/error.h"

namespace cocoon {

namespace {

// Host devices every container gets, bound from the node's /dev.
constexpr std::array device_nodes = {"null", "zero", "full",   "random",
                                     "urandom", "tty", "ptmx"};

// Top-level directories of the image that a bind of the working directory must not cover.
constexpr std::array system_dirs = {"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32",
                                    "/lib64", "/libx32", "/proc", "/sbin", "/sys", "/usr"};

bool is_inside(const std::string& path, const std::string& dir)
{
    if (dir == "/")
        return true;
    return path == dir || (path.starts_with(dir) && path[dir.size()] == '/');
}

MountOp make_op(OpKind kind, std::string target, std::string source = {},
                std::string options = {})
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
    bool home_bound = config.mount_home && !home.empty() && !is_system_path(home);
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
    return plan;
}

std::string format_plan(const Plan& plan)
{
    std::string text = fmt::format("root      {} (read-only, nosuid, nodev)\n", plan.image);
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
        switch (op.kind) {
        case OpKind::BindHost:
            text += fmt::format("bind      {} <- {}", op.target, op.source);
            break;
        case OpKind::Tmpfs:
            text += fmt::format("tmpfs     {} ({})", op.target, op.options);
            break;
        case OpKind::Symlink:
            text += fmt::format("symlink   {} -> {}", op.target, op.source);
            break;
        case OpKind::GeneratedFile:
            text += fmt::format("generate  {} ({})", op.target, op.source);
            break;
        }
        text += flags.empty() ? "\n" : fmt::format(" [{}]\n", flags);
    }
    return text;
}

} // namespace cocoon
