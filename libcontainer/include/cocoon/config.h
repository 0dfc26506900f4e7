// Site configuration (cocoon.yaml), owned by the admin. Unknown keys are errors so a typo
// never silently changes behaviour. Every key is documented in etc/cocoon.yaml and
// cocoon.yaml(5).
#pragma once

#include <string>
#include <vector>

namespace cocoon {

struct Config {
    // FUSE server used to mount squashfs images inside the user namespace.
    std::string squashfuse;
    // Bind the job user's home directory at the same path.
    bool mount_home = true;
    // Bind the step's working directory (the submit directory) at the same path.
    bool mount_workdir = true;
    // Host files bound read-only at the same path when they exist on the node.
    std::vector<std::string> host_files = {"/etc/hosts", "/etc/resolv.conf"};
};

// The built-in defaults, used when no file is given.
Config default_config();

// Loads and validates a cocoon.yaml file. Throws Error naming the file, key and problem.
Config load_config(const std::string& path);

// Same, from YAML text (for tests and for error messages that name `origin`).
Config parse_config(const std::string& text, const std::string& origin);

} // namespace cocoon
