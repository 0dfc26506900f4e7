// The seccomp filter every task of a container gets (cocoon.yaml `seccomp`).
//
// A deny list, not an allow list: a task in cocoon is the user's own program on the user's
// own node allocation, with no capability outside its user namespace. The filter takes
// away the few kernel interfaces that an HPC program does not need and that are the usual
// way into kernel bugs; everything else stays as on the host. The list is a table in
// seccomp.cpp, one row per syscall with the reason next to it.
//
// The filter covers the native ABI and every compat ABI the CPU can run (x86-64, i386 and
// x32; aarch64 and arm): a 64-bit task can make i386 (int 0x80) and x32 system calls, and a
// filter that checks only the native numbers is bypassed through them. System calls of any
// other architecture kill the process.
#pragma once

#include <seccomp.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cocoon/config.h"

namespace cocoon {

// True when libseccomp knows `name` as a system call of some architecture.
bool is_syscall_name(std::string_view name);

// The names in the default deny list, in table order, each once.
std::vector<std::string> default_denied_syscalls();

// One built filter (a libseccomp context); move-only.
class SeccompFilter {
public:
    // Builds the default filter with settings.deny added and settings.allow removed.
    // The names were checked by the config loader; throws Error if libseccomp refuses one.
    explicit SeccompFilter(const Config::Seccomp& settings);

    // The compiled BPF program, as the kernel takes it (struct sock_filter instructions).
    std::vector<uint64_t> compile() const;

    // libseccomp's pseudo filter code, for tests and for reading.
    std::string pseudo_code() const;

    // The architectures the filter covers ("x86_64", "x86", "x32", ...).
    std::vector<std::string> architectures() const;

    // What is denied, one entry per rule ("keyctl", "ioctl(TIOCSTI)", ...), with the errno
    // the call returns instead.
    const std::vector<std::pair<std::string, int>>& denied() const noexcept { return denied_; }

private:
    struct Release {
        void operator()(void* context) const noexcept;
    };
    std::unique_ptr<void, Release> context_; // scmp_filter_ctx
    std::vector<std::pair<std::string, int>> denied_;
};

} // namespace cocoon
