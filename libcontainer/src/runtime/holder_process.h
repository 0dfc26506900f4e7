// What the two holder programs (holder_program.cpp, image_holder_program.cpp) do alike
// around their own conversation with the plugin.
#pragma once

#include <functional>

namespace cocoon {

// Sets no_new_privs (and, when `undumpable`, makes the process undumpable, so not even the
// user's other processes may inspect or ptrace it), sends the library's log to the parent
// as "log" frames on `status_fd`, and runs `serve`. An exception becomes an "error" frame.
// Returns the process's exit status.
int run_holder_process(int status_fd, bool undumpable, const std::function<void()>& serve) noexcept;

} // namespace cocoon
