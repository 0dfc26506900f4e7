// A child process this process started and owns. Everything the child needs (argv, envp,
// which descriptors go where) is built before fork, so the child allocates nothing and
// calls only async-signal-safe functions before it executes the program (the plugin runs
// inside slurmstepd, which has threads). The owner holds a pidfd; the destructor kills and
// reaps a child still running, so no path leaves a zombie or a stray process.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "cocoon/unique_fd.h"

namespace cocoon::sys {

class ChildProcess {
public:
    struct Spec {
        // The program, opened (and checked) by the caller: executed through its
        // descriptor, so what was checked is what runs.
        int program_fd = -1;
        std::vector<std::string> argv;
        std::vector<std::string> envp;
        // Descriptors the child gets, as {descriptor here, number in the child}. The
        // numbers 0, 1 and 2 not given here are /dev/null; every other descriptor is closed.
        std::vector<std::pair<int, int>> descriptors;
    };

    // Forks and executes the program; throws Error when fork fails. A program that cannot
    // be executed exits with 127, one that cannot set up its descriptors with 126.
    static ChildProcess start(const Spec& spec);

    ChildProcess() noexcept = default;
    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess();

    bool running() const noexcept { return pid_ > 0; }
    pid_t pid() const noexcept { return pid_; }

    // Waits for the child to end; returns its wait status (see waitpid(2)).
    int wait() noexcept;
    // Sends SIGKILL and reaps it; nothing when it already ended.
    void kill() noexcept;

private:
    pid_t pid_ = -1;
    UniqueFd pidfd_;
};

} // namespace cocoon::sys
