// cocoon: run a command in the same container the SPANK plugin builds for a Slurm step,
// through the same library, as an unprivileged user without Slurm.
#include <getopt.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cocoon/config.h"
#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/image.h"
#include "cocoon/plan.h"
#include "cocoon/spec.h"
#include "cocoon_build_config.h"

namespace {

using namespace cocoon;

constexpr const char* usage_text =
    "usage: cocoon run [OPTIONS] IMAGE [--] COMMAND [ARG...]\n"
    "       cocoon --version | --help\n"
    "\n"
    "Runs COMMAND in a container of IMAGE (a squashfs file or a root filesystem\n"
    "directory), built exactly as for `srun --container=IMAGE`.\n"
    "\n"
    "run options:\n"
    "  -c, --config FILE     site configuration (default " COCOON_DEFAULT_CONFIG ")\n"
    "  -w, --workdir DIR     working directory, bound at the same path (default: current)\n"
    "      --no-mount-home   do not bind your home directory\n"
    "      --dry-run         print the container's mount plan and exit\n"
    "\n"
    "Exit status: the command's, 125 when the container could not be created,\n"
    "126/127 when the command could not be executed.\n";

constexpr int exit_setup_failed = 125;

struct RunOptions {
    std::string config_path;
    std::string workdir;
    bool no_mount_home = false;
    bool dry_run = false;
    std::string image;
    std::vector<std::string> command;
};

[[noreturn]] void usage_error(const std::string& message)
{
    std::fprintf(stderr, "cocoon: %s\n%s", message.c_str(), usage_text);
    std::exit(2);
}

RunOptions parse_run_options(int argc, char** argv)
{
    enum { opt_no_home = 1000, opt_dry_run };
    static const option long_options[] = {
        {"config", required_argument, nullptr, 'c'},
        {"workdir", required_argument, nullptr, 'w'},
        {"no-mount-home", no_argument, nullptr, opt_no_home},
        {"dry-run", no_argument, nullptr, opt_dry_run},
        {nullptr, 0, nullptr, 0},
    };
    RunOptions options;
    optind = 1;
    int c;
    // '+': stop at the image, everything after it belongs to the command.
    while ((c = getopt_long(argc, argv, "+c:w:", long_options, nullptr)) != -1) {
        switch (c) {
        case 'c': options.config_path = optarg; break;
        case 'w': options.workdir = optarg; break;
        case opt_no_home: options.no_mount_home = true; break;
        case opt_dry_run: options.dry_run = true; break;
        default: usage_error("invalid option for 'run'");
        }
    }
    if (optind >= argc)
        usage_error("run: missing IMAGE");
    options.image = argv[optind++];
    if (optind < argc && std::strcmp(argv[optind], "--") == 0)
        ++optind;
    for (; optind < argc; ++optind)
        options.command.emplace_back(argv[optind]);
    if (options.command.empty() && !options.dry_run)
        usage_error("run: missing COMMAND");
    return options;
}

std::string current_directory()
{
    char cwd[PATH_MAX];
    return getcwd(cwd, sizeof(cwd)) ? cwd : "/";
}

Config load_run_config(const RunOptions& options)
{
    if (!options.config_path.empty())
        return load_config(options.config_path);
    if (access(COCOON_DEFAULT_CONFIG, F_OK) == 0)
        return load_config(COCOON_DEFAULT_CONFIG);
    return default_config();
}

[[noreturn]] void exec_in_container(pid_t holder, const std::string& workdir,
                                    const std::vector<std::string>& command)
{
    try {
        join_container(holder);
        enter_workdir(workdir);
        forbid_new_privileges();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cocoon: error: %s\n", e.what());
        _exit(exit_setup_failed);
    }
    std::vector<char*> args;
    for (const auto& arg : command)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    int error = errno;
    std::fprintf(stderr, "cocoon: error: cannot execute '%s' in the container: %s\n", args[0],
                 std::strerror(error));
    _exit(error == ENOENT ? 127 : 126);
}

int wait_status_to_exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}

int run(int argc, char** argv)
{
    RunOptions options = parse_run_options(argc, argv);
    Config config = load_run_config(options);
    if (options.no_mount_home)
        config.mount_home = false;

    ContainerSpec spec;
    spec.workdir = current_directory();
    if (!options.workdir.empty())
        spec.workdir = options.workdir.front() == '/' ? options.workdir
                                                      : spec.workdir + "/" + options.workdir;
    try {
        spec.image = parse_image_reference(options.image, current_directory());
    } catch (const Error& e) {
        throw e.wrap(options.image);
    }
    std::vector<gid_t> groups(static_cast<size_t>(getgroups(0, nullptr)));
    groups.resize(static_cast<size_t>(getgroups(static_cast<int>(groups.size()), groups.data())));
    spec.identity = lookup_identity(getuid(), getgid(), groups);

    if (options.dry_run) {
        std::fputs(format_plan(plan_container(spec, config)).c_str(), stdout);
        return 0;
    }

    Holder::Hooks hooks;
    hooks.write_id_maps = [&spec](pid_t pid) { write_id_maps(pid, spec.identity, false); };
    Holder holder = [&] {
        try {
            return Holder::start(spec, config, hooks);
        } catch (const Error& e) {
            throw e.wrap(options.image);
        }
    }();

    // Like a shell: terminal signals go to the command; cocoon waits for it.
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    pid_t child = fork();
    if (child < 0)
        throw_errno("fork");
    if (child == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        exec_in_container(holder.pid(), spec.workdir, options.command);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    holder.stop();
    return wait_status_to_exit_code(status);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
        std::strcmp(argv[1], "help") == 0) {
        std::fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (std::strcmp(argv[1], "--version") == 0) {
        std::printf("cocoon %s\n", COCOON_VERSION);
        return 0;
    }
    if (std::strcmp(argv[1], "run") != 0)
        usage_error(std::string("unknown command '") + argv[1] + "'");
    try {
        return run(argc - 1, argv + 1);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cocoon: error: %s\n", e.what());
        return exit_setup_failed;
    }
}
