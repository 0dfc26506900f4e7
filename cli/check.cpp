// cocoon check: what a node needs for cocoon, item by item, each either ok or what is wrong
// and the command that fixes it. Run by an admin (as root) on a node; `--image IMAGE` then
// tries a container as the calling user, stage by stage, as a job would get it.
//
// The checks use the library's own rules (load_trusted_config, the trust checks of
// cocoon/trust.h, a real container on a probe image), so a node that passes runs jobs,
// and the check cannot drift from what the plugin enforces. Exit status: 0 when every item
// is ok, 1 otherwise, 2 for a usage error. The plugstack item is in check_slurm.cpp, the
// zstd probes in check_probe.cpp.
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <linux/mount.h>
#include <pwd.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "check.h"
#include "cocoon/child_process.h"
#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/kernel_mount.h"
#include "cocoon/trust.h"
#include "cocoon_build_config.h"
#include "common.h"

namespace cocoon::cli {

std::optional<std::string> read_text(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
        return std::nullopt;
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string trim(const std::string& text)
{
    auto begin = text.find_first_not_of(" \t\r\n");
    auto end = text.find_last_not_of(" \t\r\n");
    return begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
}

std::string parent_dir(const std::string& path)
{
    auto slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

ProgramResult run_program(const std::vector<std::string>& argv, const std::string& input)
{
    std::vector<char*> args;
    for (const auto& arg : argv)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char* envp[] = {path_env, nullptr};
    const char* stdin_path = input.empty() ? "/dev/null" : input.c_str();
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        return {};
    UniqueFd out_read(out[0]), out_write(out[1]);
    // Not ChildProcess::start: the program is looked up in PATH, as an admin would run it.
    ChildProcess child = ChildProcess::run([&]() -> int {
        int in = open(stdin_path, O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(out_write.get(), 1) < 0 ||
            dup2(out_write.get(), 2) < 0)
            return 126;
        execvpe(args[0], args.data(), envp);
        return 127;
    });
    if (!child.running())
        return {};
    out_write.reset();
    ProgramResult result;
    char buffer[4096];
    ssize_t n;
    while ((n = read(out_read.get(), buffer, sizeof(buffer))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || result.output.size() > (1 << 20))
            break;
        result.output.append(buffer, static_cast<size_t>(n));
    }
    int status = child.wait();
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

namespace {

// --- the kernel ------------------------------------------------------------------------

// Creates a user namespace in a child that is (or became) an unprivileged user: the one
// thing the sysctls below are about, tried for real. 0 or the errno of unshare.
int try_unprivileged_userns()
{
    ChildProcess child = ChildProcess::run([]() -> int {
        if (geteuid() == 0) {
            const uid_t nobody = 65534;
            if (setgroups(0, nullptr) != 0 || setresgid(nobody, nobody, nobody) != 0 ||
                setresuid(nobody, nobody, nobody) != 0)
                return 255;
        }
        return unshare(CLONE_NEWUSER) == 0 ? 0 : errno;
    });
    if (!child.running())
        return errno;
    int status = child.wait();
    return WIFEXITED(status) ? WEXITSTATUS(status) : EINVAL;
}

bool check_user_namespaces(CheckReport& report)
{
    const std::string item = "user namespaces";
    struct Sysctl {
        const char* file;
        const char* name;
        const char* bad; // the value that stops cocoon
        const char* fix;
    };
    const Sysctl sysctls[] = {
        {"/proc/sys/kernel/unprivileged_userns_clone", "kernel.unprivileged_userns_clone", "0",
         "sysctl -w kernel.unprivileged_userns_clone=1, and the same line in /etc/sysctl.d/"},
        {"/proc/sys/user/max_user_namespaces", "user.max_user_namespaces", "0",
         "sysctl -w user.max_user_namespaces=15000, and the same line in /etc/sysctl.d/"},
        {"/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
         "kernel.apparmor_restrict_unprivileged_userns", "1",
         "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, and the same line in "
         "/etc/sysctl.d/"},
    };
    std::string seen;
    for (const auto& sysctl : sysctls) {
        auto value = read_text(sysctl.file);
        if (!value)
            continue; // not in this kernel
        std::string v = trim(*value);
        if (v == sysctl.bad) {
            report.problem(item,
                           std::string(sysctl.name) + " is " + v +
                               ": unprivileged users cannot create user namespaces",
                           sysctl.fix);
            return false;
        }
        seen += (seen.empty() ? "" : ", ") + std::string(sysctl.name) + "=" + v;
    }
    if (int error = try_unprivileged_userns(); error != 0) {
        report.problem(
            item, std::string("an unprivileged process cannot create one: ") + std::strerror(error),
            "enable CONFIG_USER_NS in the kernel and allow it to users (sysctls "
            "above, seccomp or LSM policy of the node)");
        return false;
    }
    report.ok(item, seen + (seen.empty() ? "" : "; ") + "an unprivileged process creates one");
    return true;
}

bool check_fuse(CheckReport& report)
{
    const std::string item = "/dev/fuse";
    struct stat st {};
    if (stat("/dev/fuse", &st) != 0) {
        report.problem(item, std::string("missing: ") + std::strerror(errno),
                       "modprobe fuse (and load it at boot: echo fuse > "
                       "/etc/modules-load.d/fuse.conf)");
        return false;
    }
    if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 10 || minor(st.st_rdev) != 229) {
        report.problem(item, "not the FUSE character device 10:229",
                       "rm /dev/fuse && mknod -m 0666 /dev/fuse c 10 229");
        return false;
    }
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    if ((st.st_mode & 0666) != 0666) {
        report.problem(item,
                       std::string("mode ") + mode +
                           ": users cannot open it, so squashfuse cannot mount their images",
                       "chmod 0666 /dev/fuse, and keep it so with a udev rule: "
                       "KERNEL==\"fuse\", MODE=\"0666\"");
        return false;
    }
    report.ok(item, std::string("character device 10:229, mode ") + mode);
    return true;
}
// --- cocoon.yaml ------------------------------------------------------------------------

// The configuration the plugin would use; built-in defaults when it has none.
Config check_config(CheckReport& report, const std::string& path, bool given)
{
    const std::string item = "cocoon.yaml";
    if (!given && access(path.c_str(), F_OK) != 0) {
        report.ok(item, "no " + path + " (built-in defaults apply)");
        return default_config();
    }
    Config config;
    try {
        config = load_config(path);
    } catch (const std::exception& e) {
        report.problem(item, e.what(),
                       "correct the key named above (cocoon.yaml(5) lists every key)");
        return default_config();
    }
    try {
        load_trusted_config(path);
        report.ok(item,
                  path + ": every key valid; root's, writable only by root, in root's directories");
    } catch (const std::exception& e) {
        report.problem(
            item, e.what(),
            "chown root:root " + path + " && chmod 0644 " + path +
                ", and the same owner (no group or other write) for every directory above it");
    }
    return config;
}
// --- programs ---------------------------------------------------------------------------

bool check_program(CheckReport& report, const std::string& key, const std::string& path,
                   const std::string& package)
{
    if (access(path.c_str(), X_OK) != 0) {
        report.problem(key, path + " is not installed (" + std::strerror(errno) + ")",
                       "apt install " + package + ", or set cocoon.yaml key " + key +
                           " to where it is");
        return false;
    }
    try {
        verify_trusted_program(path, "the " + key + " program (cocoon.yaml key " + key + ")");
    } catch (const std::exception& e) {
        report.problem(key, e.what(),
                       "chown root " + path + " && chmod go-w " + path +
                           " (and the directories above it)");
        return false;
    }
    report.ok(key, path + ": installed, root's, writable only by root");
    return true;
}

// --- caches -----------------------------------------------------------------------------

void check_caches(CheckReport& report, const Config& config)
{
    const std::string& dir = config.cache_dir;
    auto placeholder = dir.find('{');
    if (dir.starts_with("{home}")) {
        report.ok("cache_dir", dir + ": each user's cache in their home directory");
    } else if (placeholder == std::string::npos) {
        report.problem("cache_dir",
                       dir + " has no {uid}, {user} or {home}: every user would share one cache",
                       "set cache_dir to a per-user path such as /var/tmp/cocoon/{uid}");
    } else {
        // The directory the per-user caches are created in: root's, and sticky when users
        // may create their cache in it.
        std::string root = parent_dir(dir.substr(0, placeholder) + "x");
        struct stat st {};
        if (stat(root.c_str(), &st) != 0) {
            report.problem("cache_dir", root + " (where users create their caches) is missing",
                           "install -d -m 1777 " + root);
        } else if (st.st_uid != 0 || ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))) {
            report.problem("cache_dir",
                           root + " must be root's and, when users may write it, sticky",
                           "chown root " + root + " && chmod 1777 " + root);
        } else {
            try {
                verify_trusted_directory(parent_dir(root), 0, true,
                                         "the directory above the image caches");
                report.ok("cache_dir", dir + ": users create their caches in " + root);
            } catch (const std::exception& e) {
                report.problem("cache_dir", e.what(),
                               "make every directory above " + root + " root's with chmod go-w");
            }
        }
    }
    for (const auto& shared : config.shared_caches) {
        const std::string item = "shared cache " + shared;
        struct passwd* owner = getpwnam(config.shared_cache_owner.c_str());
        uid_t uid =
            owner
                ? owner->pw_uid
                : static_cast<uid_t>(std::strtoul(config.shared_cache_owner.c_str(), nullptr, 10));
        try {
            verify_shared_cache(shared, uid);
            report.ok(item, access(shared.c_str(), F_OK) == 0
                                ? "only root or its owner can change it"
                                : "not on this node (skipped by jobs)");
        } catch (const std::exception& e) {
            report.problem(item, e.what(),
                           "chown -R " + config.shared_cache_owner + " " + shared +
                               " && chmod -R go-w " + shared);
        }
    }
}
// --- kernel mounts ----------------------------------------------------------------------

// With kernel_mount: what the plugin needs from the kernel, asked the way it asks (a
// squashfs filesystem context, the loop control device), then the whole mount of a probe
// image by the plugin's own code; without it every image of the shared caches stays on
// squashfuse, and only slurmd's log would say why.
void check_kernel_mount(CheckReport& report, const Config& config, bool tar2sqfs_ok)
{
    const std::string item = "kernel_mount";
    if (!config.kernel_mount)
        return;
    if (geteuid() != 0) {
        report.skip(item,
                    "run cocoon check as root to check the kernel's squashfs and loop devices");
        return;
    }
    // Loads the module when squashfs is one, as the plugin's mount would.
    UniqueFd fs(static_cast<int>(syscall(SYS_fsopen, "squashfs", FSOPEN_CLOEXEC)));
    if (!fs.valid()) {
        report.problem(item,
                       std::string("the kernel has no squashfs filesystem: ") +
                           std::strerror(errno) + "; shared-cache images stay on squashfuse",
                       "modprobe squashfs (and load it at boot: echo squashfs > "
                       "/etc/modules-load.d/squashfs.conf)");
        return;
    }
    UniqueFd control(open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    if (!control.valid()) {
        report.problem(item,
                       std::string("cannot open /dev/loop-control: ") + std::strerror(errno) +
                           "; shared-cache images stay on squashfuse",
                       "modprobe loop (and load it at boot: echo loop > "
                       "/etc/modules-load.d/loop.conf)");
        return;
    }
    std::string detail = "the kernel's squashfs and /dev/loop-control are there";
    if (!tar2sqfs_ok) {
        detail += " (no probe image without tar2sqfs: the mount itself is not tried)";
    } else if (std::string failure = probe_kernel_mount(config); !failure.empty()) {
        report.problem(item,
                       "a probe image in a trusted cache could not be kernel-mounted: " + failure +
                           "; shared-cache images stay on squashfuse",
                       "fix what the reason names (idmapped mounts need Linux 5.12 or later); "
                       "slurmd's log gives the reason for each image");
        return;
    } else {
        detail += "; a probe image in a trusted cache mounts (read-only loop device, "
                  "idmapped) and reads back";
    }
    if (config.kernel_mount_linger > 0)
        detail += "; images kept " + std::to_string(config.kernel_mount_linger) +
                  " s after their last job, " +
                  std::to_string(count_kept_kernel_mounts(COCOON_RUNTIME_DIR)) +
                  " kept now in " COCOON_RUNTIME_DIR "/kernel-mounts";
    report.ok(item, detail);
}

// --- --image: a container as the calling user, stage by stage ---------------------------

int check_image(const std::string& config_path, const std::string& image_text)
{
    CheckReport report;
    Config config;
    try {
        config = load_cli_config(config_path);
        report.ok("configuration", config_path.empty() ? "loaded" : config_path);
    } catch (const std::exception& e) {
        report.problem("configuration", e.what(),
                       "ask your admin to run cocoon check on this node");
        return 1;
    }
    ContainerSpec spec;
    spec.workdir = current_directory();
    spec.identity = current_identity();
    spec.cache_dir = cache_dir(config, spec.identity);
    try {
        spec.image =
            parse_image_reference(image_text, current_directory(), config.default_registry);
        report.ok("image name", image_text);
    } catch (const std::exception& e) {
        report.problem("image name", image_text + ": " + e.what(), "");
        return 1;
    }
    try {
        open_image(spec, config, nullptr);
        report.ok("image", image_text + " is readable" +
                               (spec.image.kind == ImageReference::Kind::Path
                                    ? ""
                                    : " and in the cache " + spec.cache_dir));
    } catch (const std::exception& e) {
        report.problem("image", e.what(), "");
        return 1;
    }
    std::optional<Holder> holder;
    try {
        holder.emplace(start_container(spec, config));
        report.ok("container", "user and mount namespaces made, image mounted, holder pid " +
                                   std::to_string(holder->pid()));
    } catch (const std::exception& e) {
        report.problem("container", e.what(), "ask your admin to run cocoon check on this node");
        return 1;
    }
    // Not ChildProcess::start: a task joins the container between fork and exec.
    ChildProcess child = ChildProcess::run([&]() -> int {
        try {
            join_container(holder->pid());
            enter_workdir(spec.workdir, holder->image_workdir());
            forbid_new_privileges();
            apply_seccomp(config);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 125;
        }
        int null_fd = open("/dev/null", O_RDWR);
        dup2(null_fd, 0);
        execlp("true", "true", nullptr);
        return 127;
    });
    bool started = child.running();
    int status = child.wait();
    holder->stop();
    int code = started && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 0)
        report.ok("task", "joined the container and ran 'true' in it");
    else if (code == 127)
        report.problem("task", "joined the container; the image has no 'true' command", "");
    else
        report.problem("task", "could not join the container (status " + std::to_string(code) + ")",
                       "ask your admin to run cocoon check on this node");
    return report.failures() == 0 ? 0 : 1;
}
} // namespace

int check_command(int argc, char** argv)
{
    static const option long_options[] = {
        {"config", required_argument, nullptr, 'c'},
        {"image", required_argument, nullptr, 'i'},
        {nullptr, 0, nullptr, 0},
    };
    std::string config_path;
    std::string image;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":c:i:", long_options, nullptr)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'i': image = optarg; break;
        default: option_error("check", c, argv);
        }
    }
    if (optind < argc)
        usage_error(std::string("check: unexpected argument '") + argv[optind] +
                    "' (an image goes after --image)");
    if (!image.empty())
        return check_image(config_path, image);

    CheckReport report;
    bool userns = check_user_namespaces(report);
    bool fuse = check_fuse(report);
    std::string plugstack_config = check_plugstack(report);
    bool given = !config_path.empty() || !plugstack_config.empty();
    if (config_path.empty())
        config_path = plugstack_config.empty() ? COCOON_DEFAULT_CONFIG : plugstack_config;
    Config config = check_config(report, config_path, given);
    bool squashfuse = check_program(report, "squashfuse", config.squashfuse, "squashfuse");
    bool tar2sqfs = check_program(report, "tar2sqfs", config.tar2sqfs, "squashfs-tools-ng");
    check_zstd(report, config, tar2sqfs, squashfuse, userns && fuse);
    check_caches(report, config);
    check_kernel_mount(report, config, tar2sqfs);
    if (report.failures() == 0)
        std::printf("cocoon check: this node is ready for cocoon\n");
    else
        std::printf("cocoon check: %d problem%s\n", report.failures(),
                    report.failures() == 1 ? "" : "s");
    return report.failures() == 0 ? 0 : 1;
}

} // namespace cocoon::cli
