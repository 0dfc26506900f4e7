#include "runtime/seccomp.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/unique_fd.h"

namespace cocoon {

namespace {

struct Architecture {
    uint32_t token;
    const char* name;
};

// The ABIs a process of this build can make system calls with, native first. Calls of
// any other ABI kill the process (SCMP_FLTATR_ACT_BADARCH).
constexpr Architecture filter_architectures[] = {
#if defined(__x86_64__) && !defined(__ILP32__)
    {SCMP_ARCH_X86_64, "x86_64"},
    {SCMP_ARCH_X86, "x86"}, // int 0x80 from any process, and i386 binaries
    {SCMP_ARCH_X32, "x32"}, // syscall numbers with __X32_SYSCALL_BIT, where the kernel has them
#elif defined(__aarch64__)
    {SCMP_ARCH_AARCH64, "aarch64"},
    {SCMP_ARCH_ARM, "arm"}, // 32-bit arm binaries on kernels with CONFIG_COMPAT
#else
    // Not a build we test: the native ABI alone; any compat ABI is killed.
    {SCMP_ARCH_NATIVE, "native"},
#endif
};

struct DeniedSyscall {
    const char* name;
    int error; // what the call returns instead
    // For a rule about one value of one argument: its index, the value and its name.
    // Compared on the low 32 bits only (see ioctl below).
    int argument = -1;
    uint32_t value = 0;
    const char* value_name = nullptr;
};

// The default deny list. Allowed on purpose, although Docker's default profile denies
// them, because HPC work needs them and they give nothing beyond the user's own rights:
//  - ptrace, process_vm_readv/writev: debuggers (gdb, TotalView, DDT), and MPI's
//    single-copy transfers between ranks (CMA); Yama's ptrace_scope still applies.
//  - perf_event_open: profilers (perf, PAPI, LIKWID, HPCToolkit, Nsight);
//    kernel.perf_event_paranoid still applies.
//  - mbind, set_mempolicy, migrate_pages, move_pages: NUMA placement (numactl, MPI and
//    OpenMP binding).
//  - unshare, clone, clone3, setns with CLONE_NEWUSER and the other namespace flags:
//    nested containers (Apptainer, Charliecloud, podman), bubblewrap and browser
//    sandboxes need them. The same user can create namespaces on the node outside any
//    container, so denying them inside would break tools and protect nothing; the
//    site's user.max_user_namespaces decides.
//  - mount, umount2 and the new mount API (fsopen, fsmount, move_mount, open_tree, ...):
//    they need CAP_SYS_ADMIN in the user namespace that owns the mount namespace, which a
//    task has only as root of its own container, and then only over its own mounts
//    (mounts inherited from the host are locked by the kernel).
//  - personality: since Linux 4.1 there are no other execution domains; the flags
//    affect only the caller, READ_IMPLIES_EXEC and MMAP_PAGE_ZERO are cleared on set-id
//    exec, and gdb and `setarch -R` set ADDR_NO_RANDOMIZE.
// clang-format off
constexpr DeniedSyscall default_denied[] = {
    // Host administration. These need a capability in the host's initial namespaces,
    // which a container task never has; denied anyway so that a leaked capability or a
    // kernel bug in their permission checks does not reach them. The kernel answers
    // EPERM too, so no program sees a difference.
    {"kexec_load",      EPERM}, // load a new kernel
    {"kexec_file_load", EPERM},
    {"init_module",     EPERM}, // load and unload kernel modules
    {"finit_module",    EPERM},
    {"delete_module",   EPERM},
    {"reboot",          EPERM},
    {"swapon",          EPERM}, // the node's swap is the admin's
    {"swapoff",         EPERM},
    {"acct",            EPERM}, // process accounting of the node
    {"settimeofday",    EPERM}, // the node's clock (reading it stays allowed)
    {"clock_settime",   EPERM},
    {"iopl",            EPERM}, // raw I/O ports (x86 only)
    {"ioperm",          EPERM},
    {"open_by_handle_at", EPERM}, // opens any file of a filesystem by handle, past
                                  // directory permissions ("shocker" container escape)

    // Kernel interfaces an unprivileged task can reach that are large, change fast and
    // keep yielding privilege-escalation bugs, and that HPC programs do not use.
    {"bpf",             EPERM}, // the eBPF verifier; unprivileged eBPF is off on most
                                // distributions anyway (kernel.unprivileged_bpf_disabled)
    {"userfaultfd",     EPERM}, // lets a task stall the kernel on its own memory at will:
                                // the usual way to win a kernel race
    {"io_uring_setup",  EPERM}, // io_uring: its operations bypass seccomp, and it has been
    {"io_uring_enter",  EPERM}, // a steady source of kernel exploits; EPERM is what
    {"io_uring_register", EPERM}, // kernel.io_uring_disabled gives, so libraries fall back

    // Kernel keyrings are not namespaced: a container task could read or replace keys of
    // the user's other sessions on the node. Sites whose jobs need keyrings inside
    // containers (AFS tokens, Kerberos KEYRING: caches) list these under `allow`.
    {"keyctl",          EPERM},
    {"add_key",         EPERM},
    {"request_key",     EPERM},

    // Terminal injection: TIOCSTI pushes characters into a terminal's input, so a task
    // could type commands into the shell of the user's terminal (srun --pty, or the
    // terminal a job was started from) after the task ends; TIOCLINUX does the same on a
    // virtual console (paste selection). The kernel reads the request as a 32-bit
    // unsigned int, so the rule compares the low 32 bits only: a request with bits set in
    // the upper half must not slip past it.
    {.name = "ioctl", .error = EPERM, .argument = 1, .value = TIOCSTI, .value_name = "TIOCSTI"},
    {.name = "ioctl", .error = EPERM, .argument = 1, .value = TIOCLINUX, .value_name = "TIOCLINUX"},
};
// clang-format on

std::string errno_name(int error)
{
    const char* name = strerrorname_np(error);
    return name ? name : std::to_string(error);
}

void check(int rc, const std::string& what)
{
    if (rc < 0)
        throw_errno(fmt::format("seccomp: {}", what), -rc);
}

} // namespace

bool is_syscall_name(std::string_view name)
{
    return seccomp_syscall_resolve_name(std::string(name).c_str()) != __NR_SCMP_ERROR;
}

std::vector<std::string> default_denied_syscalls()
{
    std::vector<std::string> names;
    for (const auto& row : default_denied)
        if (std::find(names.begin(), names.end(), row.name) == names.end())
            names.emplace_back(row.name);
    return names;
}

void SeccompFilter::Release::operator()(void* context) const noexcept
{
    seccomp_release(context);
}

SeccompFilter::SeccompFilter(const Config::Seccomp& settings)
    : context_(seccomp_init(SCMP_ACT_ALLOW))
{
    if (!context_)
        fail("seccomp: cannot create a filter (out of memory)");
    void* context = context_.get();
    check(seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
          "cannot make other architectures kill the process");
    // seccomp_load() reports the kernel's errno instead of ECANCELED.
    check(seccomp_attr_set(context, SCMP_FLTATR_API_SYSRAWRC, 1), "cannot ask for raw errors");
    for (const auto& arch : filter_architectures) {
        int rc = seccomp_arch_add(context, arch.token);
        if (rc != -EEXIST) // the native one is there from seccomp_init
            check(rc, fmt::format("cannot add architecture {}", arch.name));
    }

    auto deny = [&](const DeniedSyscall& row) {
        int number = seccomp_syscall_resolve_name(row.name);
        if (number == __NR_SCMP_ERROR)
            fail("seccomp: unknown system call '{}'", row.name);
        std::string what = row.name;
        int rc = 0;
        if (row.argument < 0) {
            rc = seccomp_rule_add(context, SCMP_ACT_ERRNO(static_cast<uint32_t>(row.error)), number,
                                  0);
        } else {
            what += fmt::format("({})", row.value_name);
            scmp_arg_cmp compare = SCMP_CMP64(static_cast<unsigned>(row.argument),
                                              SCMP_CMP_MASKED_EQ, 0xffffffffULL, row.value);
            rc = seccomp_rule_add(context, SCMP_ACT_ERRNO(static_cast<uint32_t>(row.error)), number,
                                  1, compare);
        }
        check(rc, fmt::format("cannot deny '{}'", what));
        if (std::find_if(denied_.begin(), denied_.end(),
                         [&](const auto& entry) { return entry.first == what; }) == denied_.end())
            denied_.emplace_back(what, row.error);
    };
    const auto& allow = settings.allow;
    auto allowed = [&](const char* name) {
        return std::find(allow.begin(), allow.end(), name) != allow.end();
    };
    for (const auto& row : default_denied)
        if (!allowed(row.name))
            deny(row);
    for (const auto& name : settings.deny)
        deny({.name = name.c_str(), .error = EPERM});
}

std::vector<uint64_t> SeccompFilter::compile() const
{
    // libseccomp 2.5 (Debian 12) writes the program only to a descriptor.
    UniqueFd memory(memfd_create("cocoon-seccomp", MFD_CLOEXEC));
    if (!memory.valid())
        throw_errno("seccomp: cannot make a memory file for the filter");
    check(seccomp_export_bpf(context_.get(), memory.get()), "cannot compile the filter");
    off_t size = lseek(memory.get(), 0, SEEK_END);
    static_assert(sizeof(struct sock_filter) == sizeof(uint64_t));
    if (size <= 0 || size % 8 != 0 || size > BPF_MAXINSNS * 8)
        fail("seccomp: the compiled filter has {} bytes, not a whole program", size);
    std::vector<uint64_t> code(static_cast<size_t>(size) / 8);
    if (pread(memory.get(), code.data(), static_cast<size_t>(size), 0) != size)
        throw_errno("seccomp: cannot read the compiled filter");
    return code;
}

SeccompProgram::SeccompProgram(const Config::Seccomp& settings)
{
    if (settings.enabled)
        code_ = SeccompFilter(settings).compile();
}

void SeccompProgram::load() const
{
    if (code_.empty())
        return;
    struct sock_fprog program = {
        .len = static_cast<unsigned short>(code_.size()),
        .filter = reinterpret_cast<struct sock_filter*>(const_cast<uint64_t*>(code_.data())),
    };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0)
        throw_errno("seccomp: cannot install the filter");
}

std::string SeccompFilter::pseudo_code() const
{
    UniqueFd file(memfd_create("cocoon-seccomp", MFD_CLOEXEC));
    if (!file.valid())
        throw_errno("seccomp: cannot create a memory file for the filter's text");
    check(seccomp_export_pfc(context_.get(), file.get()), "cannot write the filter's text");
    std::string text;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = pread(file.get(), buffer, sizeof(buffer), static_cast<off_t>(text.size()))) > 0)
        text.append(buffer, static_cast<size_t>(n));
    if (n < 0)
        throw_errno("seccomp: cannot read the filter's text");
    return text;
}

std::vector<std::string> SeccompFilter::architectures() const
{
    std::vector<std::string> names;
    for (const auto& arch : filter_architectures)
        if (seccomp_arch_exist(context_.get(), arch.token) == 0)
            names.emplace_back(arch.name);
    return names;
}

void apply_seccomp(const Config& config)
{
    SeccompProgram(config.seccomp).load();
}

std::string describe_seccomp(const Config& config)
{
    if (!config.seccomp.enabled)
        return "seccomp   off (cocoon.yaml: seccomp: enabled: false)\n";
    SeccompFilter filter(config.seccomp);
    // Group the denied calls by what they return, in table order.
    std::vector<std::pair<int, std::string>> groups;
    for (const auto& [what, error] : filter.denied()) {
        int code = error; // clang 14 (clang-tidy) cannot capture a structured binding
        auto group = std::find_if(groups.begin(), groups.end(),
                                  [code](const auto& g) { return g.first == code; });
        if (group == groups.end())
            groups.emplace_back(error, what);
        else
            group->second += " " + what;
    }
    std::string text = "seccomp   architectures";
    for (const auto& arch : filter.architectures())
        text += " " + arch;
    text += " (any other kills the process)\n";
    for (const auto& [error, names] : groups)
        text += fmt::format("seccomp   {}: {}\n", errno_name(error), names);
    return text;
}

} // namespace cocoon
