// A child process this process started and owns: the one place that forks, waits, kills
// and reaps. Everything the child needs (argv, envp, which descriptors go where) is built
// before fork, so the child allocates nothing and calls only async-signal-safe functions
// before it executes the program (the plugin runs inside slurmstepd, which has threads).
// The owner holds a pidfd; the destructor kills and reaps a child still running, so no
// path leaves a zombie or a stray process.
//
// Three ways to start one: start() executes a program described by a Spec (the usual case);
// run() runs a function in the child, for the few children that must do something a Spec
// cannot say between fork and exec (switch to the job user, setns, unshare) or that never
// execute a program. Such a function keeps to the rules above when the parent has threads.
// spawn() is run() without copying the parent's memory, for a child that executes a
// program soon (a step's holder, the squashfs server): it has stricter rules of its own,
// below.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cocoon/unique_fd.h"

namespace cocoon {

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

    // Forks and calls `body()` in the child, which then exits with what it returns (125
    // when it throws). Never throws: when fork fails the result is not running() and
    // errno says why (so that a child may start a child of its own without allocating).
    template <typename Body>
    static ChildProcess run(Body&& body) noexcept
    {
        return run_function(&call<std::remove_reference_t<Body>>, &body);
    }

    // Like run(), but the child shares this process's memory until it executes a program
    // or exits, as with vfork(2): clone(CLONE_VM | CLONE_VFORK) on a stack of its own, the
    // calling thread waiting meanwhile. No page tables are copied and the parent takes no
    // copy-on-write faults afterwards: in slurmstepd that is most of what starting a child
    // costs. Signals are blocked around the clone and the child resets every handled
    // signal to its default before `body()` runs, so no parent's handler runs in it.
    // `body()` must change its credentials with raw system calls only: glibc's setuid
    // family would signal the threads of the process it believes it is in (the parent's),
    // and change theirs. It must not fork, and it allocates only to report a failure
    // (throwing is safe: the calling thread, whose allocator state it uses, is stopped).
    template <typename Body>
    static ChildProcess spawn(Body&& body) noexcept
    {
        return spawn_function(&call<std::remove_reference_t<Body>>, &body);
    }

    ChildProcess() noexcept = default;
    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess();

    bool running() const noexcept { return pid_ > 0; }
    pid_t pid() const noexcept { return pid_; }

    // Waits for the child to end; returns its wait status (see waitpid(2)), 0 when there
    // is no child.
    int wait() noexcept;
    // Waits at most `timeout_ms` for the child to end: its wait status, or nothing while it
    // still runs.
    std::optional<int> wait_for(int timeout_ms) noexcept;
    // Sends SIGKILL and reaps it; returns its wait status (0 when it had already ended).
    int kill() noexcept;
    // Gives the child up without ending it (a process that must outlive this one, reaped
    // by init); returns its pid.
    pid_t release() noexcept;

    // The exit code of a wait status: the exit status, or 128 + the signal, as a shell.
    static int exit_code(int status) noexcept;

private:
    // In the child: the body's result, 125 when it throws.
    template <typename Body>
    static int call(void* body) noexcept
    {
        try {
            return (*static_cast<Body*>(body))();
        } catch (...) {
            return 125;
        }
    }
    static ChildProcess run_function(int (*body)(void*) noexcept, void* context) noexcept;
    static ChildProcess spawn_function(int (*body)(void*) noexcept, void* context) noexcept;
    // Takes ownership of a started child: a pidfd for it, errno unchanged.
    static ChildProcess adopt(pid_t pid) noexcept;
    pid_t pid_ = -1;
    UniqueFd pidfd_;
};

} // namespace cocoon
