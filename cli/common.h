// Pieces shared by the cocoon subcommands.
#pragma once

#include <string>
#include <vector>

#include "cocoon/config.h"
#include "cocoon/spec.h"

namespace cocoon::cli {

// Exit status when the container or the import could not be set up.
constexpr int exit_setup_failed = 125;

// A bad command line: one line naming what was typed, exit status 2.
[[noreturn]] void usage_error(const std::string& message);
// The option getopt_long refused with `c` ('?' unknown, ':' without its value; the option
// strings start with ':' and opterr is 0, so getopt prints nothing itself).
[[noreturn]] void option_error(const char* command, int c, char** argv);

std::string current_directory();

// cocoon.yaml: the given file, else the default path when it exists, else built-ins.
Config load_cli_config(const std::string& path);

// The calling user, as the container and the cache see them.
Identity current_identity();

// The user's image cache: COCOON_CACHE_DIR, else cache_dir of cocoon.yaml.
std::string cache_dir(const Config& config, const Identity& identity);

int run_command(int argc, char** argv);
int pull_command(int argc, char** argv);
int images_command(int argc, char** argv);
int resolve_command(int argc, char** argv);
int rmi_command(int argc, char** argv);
int check_command(int argc, char** argv);

} // namespace cocoon::cli
