// cocoon: the user's side of cocoon without Slurm. `cocoon run` builds the same container
// the SPANK plugin builds for a step, through the same library; pull, images and rmi manage
// the image cache that steps use.
#include <getopt.h>
#include <signal.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <string>

#include "cocoon/error.h"
#include "cocoon/log.h"
#include "cocoon_build_config.h"
#include "common.h"

namespace cocoon::cli {

constexpr const char* usage_text =
    "usage: cocoon run [OPTIONS] IMAGE [--] COMMAND [ARG...]\n"
    "       cocoon pull [-c FILE] IMAGE\n"
    "       cocoon images [-c FILE]\n"
    "       cocoon rmi [-c FILE] IMAGE|DIGEST...\n"
    "       cocoon resolve [-c FILE] IMAGE   print IMAGE pinned to its registry digest\n"
    "       cocoon check [-c FILE] [--image IMAGE]\n"
    "       cocoon --version | --help\n"
    "       cocoon -v|-vv COMMAND ...  log what cocoon does (-v) and every detail (-vv)\n"
    "                                  on stderr\n"
    "\n"
    "IMAGE is a squashfs file or root filesystem directory (/path, ./path, name.sqsh),\n"
    "a registry image (ubuntu:24.04, ghcr.io/org/app:1.2, host:5000/ns/app@sha256:...,\n"
    "docker://..., registry#image:tag), oci:DIR[:TAG], oci-archive:FILE or\n"
    "docker-archive:FILE. Registry images and archives are imported once into the\n"
    "image cache (COCOON_CACHE_DIR, or cache_dir of cocoon.yaml).\n"
    "\n"
    "run options:\n"
    "  -c, --config FILE         site configuration (default " COCOON_DEFAULT_CONFIG ")\n"
    "  -w, --workdir DIR         working directory, bound at the same path (default: current)\n"
    "      --no-mount-home       do not bind your home directory\n"
    "      --container-env NAMES keep your value of these variables over the image's\n"
    "      --container-entrypoint  run the image's entrypoint first; the command gets\n"
    "                            the environment it sets up\n"
    "      --container-modules NAMES  apply these modules of cocoon.yaml (also\n"
    "                            COCOON_MODULES); --no-container-modules[=NAMES]\n"
    "                            leaves them (or all) out\n"
    "      --dry-run             print the plan (with each module's part) and the\n"
    "                            seccomp filter, then exit\n"
    "\n"
    "check: as root, whether this node has what cocoon needs (each item ok, or what to\n"
    "change and how); with --image, a container on IMAGE as you, stage by stage.\n"
    "\n"
    "Exit status: the command's, 125 when the container could not be created,\n"
    "126/127 when the command could not be executed.\n";

void usage_error(const std::string& message)
{
    std::fprintf(stderr, "cocoon: error: %s (see 'cocoon --help')\n",
                 cocoon::printable(message).c_str());
    std::exit(2);
}

void option_error(const char* command, int c, char** argv)
{
    // An unknown short option may sit inside a group ("-xv"): getopt names it in optopt;
    // otherwise it is the argument getopt just consumed.
    std::string typed = c == '?' && optopt > 0 && optopt < 128 && std::isalnum(optopt)
                            ? std::string("-") + static_cast<char>(optopt)
                            : std::string(argv[optind - 1]);
    if (c == ':')
        usage_error(std::string(command) + ": option '" + typed + "' needs a value");
    usage_error(std::string(command) + ": unknown option '" + typed + "'");
}

} // namespace cocoon::cli

namespace {

void log_to_stderr(cocoon::LogLevel level, std::string_view message)
{
    const char* prefix = level == cocoon::LogLevel::Error ? "cocoon: error: " : "cocoon: ";
    std::fprintf(stderr, "%s%.*s\n", prefix, static_cast<int>(message.size()), message.data());
}

// -v and -vv before the command: how much of the library's log reaches stderr. Without
// them only what the command prints itself (and errors) does.
int take_verbosity(int& argc, char**& argv)
{
    int verbosity = 0;
    while (argc > 1 && (std::strcmp(argv[1], "-v") == 0 || std::strcmp(argv[1], "-vv") == 0 ||
                        std::strcmp(argv[1], "--verbose") == 0)) {
        verbosity += std::strcmp(argv[1], "-vv") == 0 ? 2 : 1;
        argv[1] = argv[0];
        --argc;
        ++argv;
    }
    return verbosity;
}

} // namespace

int main(int argc, char** argv)
{
    using namespace cocoon::cli;
    if (int verbosity = take_verbosity(argc, argv); verbosity > 0)
        cocoon::set_log_sink(log_to_stderr,
                             verbosity == 1 ? cocoon::LogLevel::Verbose : cocoon::LogLevel::Debug);
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
        std::strcmp(argv[1], "help") == 0) {
        std::fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (std::strcmp(argv[1], "--version") == 0) {
        std::printf("cocoon %s\n", COCOON_VERSION);
        return 0;
    }
    // Bad options are reported by option_error, in one line naming them.
    opterr = 0;
    // A writer that stops reading early reports its own error; do not die of SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    struct Command {
        const char* name;
        int (*function)(int, char**);
    };
    const Command commands[] = {{"run", run_command},         {"pull", pull_command},
                                {"images", images_command},   {"rmi", rmi_command},
                                {"resolve", resolve_command}, {"check", check_command}};
    for (const auto& command : commands) {
        if (std::strcmp(argv[1], command.name) != 0)
            continue;
        try {
            return command.function(argc - 1, argv + 1);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "cocoon: error: %s\n", cocoon::printable(e.what()).c_str());
            return exit_setup_failed;
        }
    }
    usage_error(std::string("unknown command '") + argv[1] + "'");
}
