// The seccomp filter: cocoon.yaml's `seccomp` key, the filter built from the table, and
// the filter loaded into a forked child against the real kernel.
#include <asm/unistd.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "cocoon/config.h"
#include "cocoon/container.h"
#include "cocoon/error.h"
#include "runtime/seccomp.h"

namespace cocoon {
namespace {

std::string config_error(const std::string& yaml)
{
    try {
        parse_config(yaml, "test.yaml");
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

TEST(SeccompConfig, OnByDefaultWithTheDefaultList)
{
    Config config = parse_config("", "test.yaml");
    EXPECT_TRUE(config.seccomp.enabled);
    EXPECT_TRUE(config.seccomp.deny.empty());
    EXPECT_TRUE(config.seccomp.allow.empty());
}

TEST(SeccompConfig, ReadsEnabledDenyAndAllow)
{
    Config config = parse_config("seccomp:\n"
                                 "  enabled: false\n"
                                 "  deny: [mincore, socketcall]\n"
                                 "  allow: [keyctl, add_key]\n",
                                 "test.yaml");
    EXPECT_FALSE(config.seccomp.enabled);
    EXPECT_EQ(config.seccomp.deny, (std::vector<std::string>{"mincore", "socketcall"}));
    EXPECT_EQ(config.seccomp.allow, (std::vector<std::string>{"keyctl", "add_key"}));
}

TEST(SeccompConfig, UnknownSystemCallIsAnErrorNamingKeyAndName)
{
    EXPECT_EQ(config_error("seccomp: {deny: [keyctl, not_a_syscall]}"),
              "test.yaml: seccomp: deny: unknown system call 'not_a_syscall'");
    EXPECT_EQ(config_error("seccomp: {allow: [kexec_lod]}"),
              "test.yaml: seccomp: allow: unknown system call 'kexec_lod'");
}

TEST(SeccompConfig, AllowNamesOnlyWhatTheDefaultDenies)
{
    std::string error = config_error("seccomp: {allow: [ptrace]}");
    EXPECT_NE(error.find("seccomp: allow: 'ptrace' is not in the default deny list (kexec_load, "),
              std::string::npos)
        << error;
}

TEST(SeccompConfig, SameNameInDenyAndAllowIsAnError)
{
    EXPECT_EQ(config_error("seccomp: {deny: [bpf], allow: [bpf]}"),
              "test.yaml: seccomp: 'bpf' is in both deny and allow");
}

TEST(SeccompConfig, ShapeErrors)
{
    EXPECT_EQ(config_error("seccomp: true"),
              "test.yaml: seccomp: must be a mapping (enabled, deny, allow)");
    EXPECT_EQ(config_error("seccomp: {deny: bpf}"),
              "test.yaml: seccomp: deny: must be a list of system call names");
    EXPECT_EQ(config_error("seccomp: {enable: true}"),
              "test.yaml: seccomp: unknown key 'enable' (known keys: allow, deny, enabled)");
}

// ---- the filter as built ----------------------------------------------------------------

bool contains(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

TEST(SeccompFilterBuild, CoversEveryAbiOfTheBuildAndKillsOthers)
{
    SeccompFilter filter(Config::Seccomp{});
    std::string code = filter.pseudo_code();
#if defined(__x86_64__) && !defined(__ILP32__)
    EXPECT_EQ(filter.architectures(), (std::vector<std::string>{"x86_64", "x86", "x32"}));
    EXPECT_TRUE(contains(code, "# filter for arch x86_64 (")) << code;
    EXPECT_TRUE(contains(code, "# filter for arch x86 (")) << code;
    EXPECT_TRUE(contains(code, "# filter for arch x32 (")) << code;
#elif defined(__aarch64__)
    EXPECT_EQ(filter.architectures(), (std::vector<std::string>{"aarch64", "arm"}));
    EXPECT_TRUE(contains(code, "# filter for arch aarch64 (")) << code;
    EXPECT_TRUE(contains(code, "# filter for arch arm (")) << code;
#endif
    EXPECT_TRUE(contains(code, "# invalid architecture action\naction KILL_PROCESS;")) << code;
}

TEST(SeccompFilterBuild, DeniesEveryNameOfTheDefaultList)
{
    SeccompFilter filter(Config::Seccomp{});
    std::string code = filter.pseudo_code();
    auto names = default_denied_syscalls();
    for (const char* name : {"keyctl", "add_key", "bpf", "open_by_handle_at", "kexec_load",
                             "init_module", "userfaultfd", "io_uring_setup", "ioctl"})
        EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
    for (const auto& name : names)
        EXPECT_TRUE(contains(code, "filter for syscall \"" + name + "\"")) << name;
    for (const char* name : {"ptrace", "perf_event_open", "unshare", "mount", "personality"})
        EXPECT_FALSE(contains(code, std::string("filter for syscall \"") + name + "\"")) << name;
    const auto& denied = filter.denied();
    std::pair<std::string, int> tiocsti{"ioctl(TIOCSTI)", EPERM};
    EXPECT_NE(std::find(denied.begin(), denied.end(), tiocsti), denied.end());
}

TEST(SeccompFilterBuild, AllowAndDenyChangeTheList)
{
    Config::Seccomp settings;
    settings.allow = {"keyctl"};
    settings.deny = {"mincore"};
    std::string code = SeccompFilter(settings).pseudo_code();
    EXPECT_FALSE(contains(code, "filter for syscall \"keyctl\"")) << code;
    EXPECT_TRUE(contains(code, "filter for syscall \"add_key\"")) << code;
    EXPECT_TRUE(contains(code, "filter for syscall \"mincore\"")) << code;
}

TEST(SeccompFilterBuild, DescribeNamesArchitecturesAndCalls)
{
    Config config;
    std::string text = describe_seccomp(config);
#if defined(__x86_64__) && !defined(__ILP32__)
    EXPECT_TRUE(
        contains(text, "seccomp   architectures x86_64 x86 x32 (any other kills the process)\n"))
        << text;
#endif
    EXPECT_TRUE(contains(text, "seccomp   EPERM: kexec_load ")) << text;
    EXPECT_TRUE(contains(text, " ioctl(TIOCSTI) ")) << text;
    config.seccomp.enabled = false;
    EXPECT_EQ(describe_seccomp(config), "seccomp   off (cocoon.yaml: seccomp: enabled: false)\n");
}

// ---- the filter in the kernel -------------------------------------------------------------

// Runs `probe` in a forked child and returns what it returned, or how the child died.
std::string in_child(const std::function<std::string()>& probe)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return "pipe failed";
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        std::string text;
        try {
            text = probe();
        } catch (const std::exception& e) {
            text = std::string("error: ") + e.what();
        }
        ssize_t ignored = write(fds[1], text.data(), text.size());
        (void)ignored;
        _exit(0);
    }
    close(fds[1]);
    std::string text;
    char buffer[512];
    ssize_t n = 0;
    while ((n = read(fds[0], buffer, sizeof(buffer))) > 0)
        text.append(buffer, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status))
        text += "killed by signal " + std::to_string(WTERMSIG(status));
    return text;
}

// "ok" or the errno's name.
std::string outcome(long rc)
{
    if (rc >= 0)
        return "ok";
    const char* name = strerrorname_np(errno);
    return name ? name : std::to_string(errno);
}

// The same, for a raw return value (-errno on failure).
std::string raw_outcome(long rc)
{
    if (rc >= 0 || rc < -4095)
        return "ok";
    const char* name = strerrorname_np(static_cast<int>(-rc));
    return name ? name : std::to_string(-rc);
}

void install(const Config::Seccomp& settings)
{
    forbid_new_privileges();
    Config config;
    config.seccomp = settings;
    apply_seccomp(config);
}

std::string probe_native()
{
    std::string text;
    auto add = [&](const char* what, long rc) {
        text += std::string(what) + "=" + outcome(rc) + " ";
    };
    add("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1));
    add("getppid", syscall(SYS_getppid));
    add("tiocsti", syscall(SYS_ioctl, -1, TIOCSTI, nullptr));
    // The kernel ignores the upper half of the request; so must the filter.
    if constexpr (sizeof(long) == 8)
        add("tiocsti_high",
            syscall(SYS_ioctl, -1, static_cast<unsigned long>(TIOCSTI) | (1UL << 32), nullptr));
    add("tiocgwinsz", syscall(SYS_ioctl, -1, TIOCGWINSZ, nullptr));
    return text;
}

TEST(SeccompLoad, DeniedCallsFailWithEpermOthersWork)
{
    std::string control = in_child(probe_native);
    if (contains(control, "keyctl=EPERM"))
        GTEST_SKIP() << "keyctl is already denied here (an outer seccomp filter?): " << control;
    EXPECT_EQ(control, "keyctl=ok getppid=ok tiocsti=EBADF tiocsti_high=EBADF tiocgwinsz=EBADF ");

    std::string filtered = in_child([] {
        install({});
        return probe_native();
    });
    EXPECT_EQ(filtered,
              "keyctl=EPERM getppid=ok tiocsti=EPERM tiocsti_high=EPERM tiocgwinsz=EBADF ");
}

// The plugin compiles the filter once per step and node; every task installs that program.
TEST(SeccompLoad, OneCompiledProgramServesEveryTask)
{
    if (contains(in_child(probe_native), "keyctl=EPERM"))
        GTEST_SKIP() << "keyctl is already denied here (an outer seccomp filter?)";
    SeccompProgram program{Config::Seccomp{}};
    EXPECT_FALSE(program.empty());
    for (int task = 0; task < 2; ++task) {
        std::string filtered = in_child([&] {
            forbid_new_privileges();
            program.load();
            return probe_native();
        });
        EXPECT_EQ(filtered,
                  "keyctl=EPERM getppid=ok tiocsti=EPERM tiocsti_high=EPERM tiocgwinsz=EBADF ")
            << "task " << task;
    }
    Config::Seccomp off;
    off.enabled = false;
    EXPECT_TRUE(SeccompProgram(off).empty());
    EXPECT_TRUE(SeccompProgram().empty());
}

TEST(SeccompLoad, AllowAndDenyTakeEffect)
{
    Config::Seccomp settings;
    settings.allow = {"keyctl"};
    settings.deny = {"getppid"};
    std::string filtered = in_child([&] {
        install(settings);
        return probe_native();
    });
    EXPECT_EQ(filtered,
              "keyctl=ok getppid=EPERM tiocsti=EPERM tiocsti_high=EPERM tiocgwinsz=EBADF ");
}

TEST(SeccompLoad, DisabledInstallsNothing)
{
    std::string disabled = in_child([] {
        Config::Seccomp settings;
        settings.enabled = false;
        install(settings);
        return probe_native();
    });
    EXPECT_EQ(disabled, in_child(probe_native));
    EXPECT_TRUE(contains(disabled, "tiocsti=EBADF")) << disabled;
}

#if defined(__x86_64__) && !defined(__ILP32__)

// An i386 system call from this 64-bit process (int 0x80); returns -errno on failure.
long i386_syscall(long number, long a = 0, long b = 0, long c = 0)
{
    long rc = 0;
    asm volatile("int $0x80"
                 : "=a"(rc)
                 : "a"(number), "b"(a), "c"(b), "d"(c)
                 : "memory", "r8", "r9", "r10", "r11");
    return rc;
}

constexpr long i386_getppid = 64;
constexpr long i386_keyctl = 288;

std::string probe_i386()
{
    long keyctl = i386_syscall(i386_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1);
    return "keyctl=" + raw_outcome(keyctl) + " getppid=" + raw_outcome(i386_syscall(i386_getppid));
}

TEST(SeccompLoad, I386CallsAreFilteredToo)
{
    std::string control = in_child(probe_i386);
    if (contains(control, "killed by signal"))
        GTEST_SKIP() << "this kernel does not run i386 system calls (IA32 emulation off): "
                     << control;
    EXPECT_EQ(control, "keyctl=ok getppid=ok");
    std::string filtered = in_child([] {
        install({});
        return probe_i386();
    });
    EXPECT_EQ(filtered, "keyctl=EPERM getppid=ok");
}

// An x32 system call: the x86-64 number with __X32_SYSCALL_BIT. The kernel runs seccomp
// before it looks at the number, so the filter sees it even where x32 is not built in
// (CONFIG_X86_X32_ABI off), and the call then fails with ENOSYS.
std::string probe_x32()
{
    return "keyctl=" + outcome(syscall(__X32_SYSCALL_BIT | SYS_keyctl, KEYCTL_GET_KEYRING_ID,
                                       KEY_SPEC_SESSION_KEYRING, 1));
}

TEST(SeccompLoad, X32CallsAreFilteredToo)
{
    std::string control = in_child(probe_x32);
    EXPECT_TRUE(control == "keyctl=ok" || control == "keyctl=ENOSYS") << control;
    std::string filtered = in_child([] {
        install({});
        return probe_x32();
    });
    EXPECT_EQ(filtered, "keyctl=EPERM");
}

#endif

} // namespace
} // namespace cocoon
