// What the two holder programs (holder_program.cpp, image_holder_program.cpp) do alike
// around their own conversation with the plugin.
#pragma once

#include <functional>

#include "cocoon/config.h"
#include "cocoon/spec.h"

namespace cocoon {

// Reads the plugin's "request" frame on `control_fd` (the step's spec and the site's
// configuration) into `spec` and `config`; `program` names the reader in the error.
void read_holder_request(int control_fd, const char* program, ContainerSpec& spec, Config& config);

// Sets no_new_privs (and, when `undumpable`, makes the process undumpable, so not even the
// user's other processes may inspect or ptrace it), sends the library's log to the parent
// as "log" frames on `status_fd`, and runs `serve`. An exception becomes an "error" frame.
// Returns the process's exit status.
int run_holder_process(int status_fd, bool undumpable, const std::function<void()>& serve) noexcept;

} // namespace cocoon
