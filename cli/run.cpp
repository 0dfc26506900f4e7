// cocoon run: a command in the container a step would get, through the same library.
#include <getopt.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cocoon/child_process.h"
#include "cocoon/container.h"
#include "cocoon/container_options.h"
#include "cocoon/error.h"
#include "cocoon/image_config.h"
#include "cocoon/modules.h"
#include "cocoon/plan.h"
#include "common.h"
#include "progress.h"

extern char** environ;

namespace cocoon::cli {

namespace {

struct RunOptions {
    std::string config_path;
    std::string workdir;
    bool no_mount_home = false;
    bool dry_run = false;
    std::vector<std::string> keep_env;
    ModuleRequest modules;
    TypedOptions container_options; // the pyxis-style options (container_options.h)
    std::string image;
    std::vector<std::string> command;
    std::string container_workdir; // resolved --container-workdir
};

void parse_module_option(bool enable, const char* value, ModuleRequest& request)
{
    try {
        if (enable)
            request.enable = parse_module_names(value, "--container-modules");
        else if (!value || !*value)
            request.disable_all = true;
        else
            request.disable = parse_module_names(value, "--no-container-modules");
    } catch (const Error& e) {
        usage_error(e.what());
    }
}

RunOptions parse_run_options(int argc, char** argv)
{
    enum {
        opt_no_home = 1000,
        opt_dry_run,
        opt_container_env,
        opt_container_option,
        opt_modules,
        opt_no_modules
    };
    std::vector<option> long_options = {
        {"config", required_argument, nullptr, 'c'},
        {"workdir", required_argument, nullptr, 'w'},
        {"no-mount-home", no_argument, nullptr, opt_no_home},
        {"dry-run", no_argument, nullptr, opt_dry_run},
        {"container-env", required_argument, nullptr, opt_container_env},
        {"container-modules", required_argument, nullptr, opt_modules},
        {"no-container-modules", optional_argument, nullptr, opt_no_modules},
    };
    // Every option of the table, under the names srun knows them by.
    for (const auto& row : container_option_table()) {
        long_options.push_back({row.name, row.argument ? required_argument : no_argument, nullptr,
                                opt_container_option});
        if (row.negated)
            long_options.push_back({row.negated, no_argument, nullptr, opt_container_option});
    }
    long_options.push_back({nullptr, 0, nullptr, 0});
    RunOptions options;
    optind = 1;
    int c;
    // '+': stop at the image, everything after it belongs to the command.
    int index = 0;
    while ((c = getopt_long(argc, argv, "+:c:w:", long_options.data(), &index)) != -1) {
        switch (c) {
        case 'c': options.config_path = optarg; break;
        case 'w': options.workdir = optarg; break;
        case opt_no_home: options.no_mount_home = true; break;
        case opt_dry_run: options.dry_run = true; break;
        case opt_container_option:
            options.container_options.emplace_back(long_options[static_cast<size_t>(index)].name,
                                                   optarg ? optarg : "");
            break;
        case opt_container_env: try { options.keep_env = parse_env_names(optarg);
            } catch (const Error& e) {
                usage_error(std::string("--container-env: ") + e.what());
            }
            break;
        case opt_modules:
        case opt_no_modules: parse_module_option(c == opt_modules, optarg, options.modules); break;
        default: option_error("run", c, argv);
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

[[noreturn]] void exec_in_container(const Holder& holder, const Config& config,
                                    const std::string& workdir, const ImageConfig& image,
                                    const RunOptions& options)
{
    try {
        for (const auto& name :
             dropped_locale_variables(image, process_environment, options.keep_env))
            unsetenv(name.c_str());
        for (const auto& [name, value] :
             image_environment(image, process_environment, options.keep_env))
            setenv(name.c_str(), value.c_str(), 1);
        for (const auto& [name, value] : holder.module_environment())
            setenv(name.c_str(), value.c_str(), 1);
        for (const auto& [name, value] : holder.entrypoint_environment())
            setenv(name.c_str(), value.c_str(), 1);
        join_container(holder.pid());
        // --container-workdir, else -w, else the image's WorkingDir, else here.
        if (!options.container_workdir.empty())
            enter_requested_workdir(options.container_workdir);
        else if (!options.workdir.empty())
            enter_workdir(workdir, image.working_dir);
        else
            enter_workdir(image.working_dir, workdir);
        forbid_new_privileges();
        apply_seccomp(config);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cocoon: error: %s\n", e.what());
        _exit(exit_setup_failed);
    }
    std::vector<char*> args;
    for (const auto& arg : options.command)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    int error = errno;
    std::fprintf(stderr, "cocoon: error: cannot execute '%s' in the container: %s\n", args[0],
                 std::strerror(error));
    _exit(error == ENOENT ? 127 : 126);
}

} // namespace

int run_command(int argc, char** argv)
{
    RunOptions options = parse_run_options(argc, argv);
    Config config = load_cli_config(options.config_path);
    if (options.no_mount_home)
        config.mount_home = false;

    ContainerSpec spec;
    spec.workdir = current_directory();
    if (!options.workdir.empty())
        spec.workdir =
            options.workdir.front() == '/' ? options.workdir : spec.workdir + "/" + options.workdir;
    try {
        spec.image =
            parse_image_reference(options.image, current_directory(), config.default_registry);
    } catch (const Error& e) {
        throw e.wrap(options.image);
    }
    spec.identity = current_identity();
    spec.cache_dir = cache_dir(config, spec.identity);
    spec.keep_environment = options.keep_env;
    auto resolved = resolve_container_options(options.container_options, process_environment,
                                              current_directory(), true);
    for (const auto& [name, value] : options.container_options)
        if (name == "container-name")
            fail("--container-name={}: named containers live in a Slurm job (srun, sbatch, "
                 "salloc); 'cocoon run' makes a new container each time, leave it out",
                 value);
        else if (name == "container-save")
            fail("--container-save={}: 'cocoon run' does not save its container yet (srun, "
                 "sbatch and salloc do); leave it out",
                 value);
    spec.options = container_options_for(resolved, config);
    options.container_workdir = spec.options.workdir;
    spec.run_entrypoint = resolved.entrypoint.value_or(false);
    spec.modules = options.modules;
    for (char** env = environ; *env; ++env)
        spec.environment.emplace_back(*env);

    if (options.dry_run) {
        Plan plan = [&] {
            try {
                return plan_with_modules(spec, config);
            } catch (const Error& e) {
                throw e.wrap(options.image);
            }
        }();
        std::fputs(format_plan(plan).c_str(), stdout);
        std::fputs(describe_seccomp(config).c_str(), stdout);
        return 0;
    }

    ProgressDisplay display(stderr, false);
    Holder::Hooks hooks;
    hooks.write_id_maps = [&spec](pid_t pid) {
        write_id_maps(pid, spec.identity, false, spec.options.user_is_outer_root());
    };
    hooks.progress = [&](const ImportEvent& event) { display(event); };
    hooks.entrypoint_log = [](const std::string& lines) { std::fputs(lines.c_str(), stderr); };
    Holder holder = [&] {
        try {
            return Holder::start(spec, config, hooks);
        } catch (const Error& e) {
            throw e.wrap(options.image);
        }
    }();
    ImageConfig image;
    image.env = holder.image_environment();
    image.working_dir = holder.image_workdir();

    // Like a shell: terminal signals go to the command; cocoon waits for it.
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    // Not ChildProcess::start: the command joins the container between fork and exec.
    ChildProcess child = ChildProcess::run([&]() -> int {
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        exec_in_container(holder, config, spec.workdir, image, options);
    });
    if (!child.running())
        throw_errno("fork");
    int status = child.wait();
    holder.stop();
    return ChildProcess::exit_code(status);
}

} // namespace cocoon::cli
