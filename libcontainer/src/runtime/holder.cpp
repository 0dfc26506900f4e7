// The parent side of the holder: starts the holder program as the job user and reads its
// typed, bounded frames (util/frames.h). In the plugin this code runs in slurmstepd, which
// can regain root: it parses no image data, only frames whose type, size and content it
// checks (environment names, a working directory, progress numbers).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cstring>
#include <optional>
#include <sstream>

#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/log.h"
#include "cocoon_build_config.h"
#include "runtime/spec_wire.h"
#include "util/fd_passing.h"
#include "util/frames.h"
#include "util/install_paths.h"
#include "util/safe_dir.h"
#include "util/sys.h"

namespace cocoon {

namespace {

constexpr int stop_grace_ms = 5000;

// What the parent accepts from the holder.
constexpr size_t max_frame_bytes = 128 << 10; // one variable (the kernel's MAX_ARG_STRLEN)
constexpr size_t max_variables = 4096;
constexpr size_t max_environment_bytes = 1 << 20;
constexpr size_t max_message_bytes = 4096;

// Signals a job delivers to its step (Ctrl-C, scancel, time limit) are for the tasks: the
// holder and the FUSE server must outlive the tasks so they can still read the image. They
// go with SIGKILL or when told to stop. (Ignored dispositions survive execve.)
constexpr int ignored_signals[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGUSR1,
                                   SIGUSR2, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU};

// libcurl's proxy variables are the only ones the holder program gets from its parent.
constexpr const char* passed_variables[] = {"http_proxy", "https_proxy", "no_proxy", "all_proxy",
                                            "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"};

ImportEvent parse_progress(const std::string& payload)
{
    ImportEvent event;
    int phase = 0;
    int cached = 0;
    std::istringstream in(payload);
    in >> phase >> event.layer >> event.layers >> event.bytes >> event.total_bytes >> cached;
    if (!in || phase < 0 || phase > static_cast<int>(ImportEvent::Phase::Done))
        fail("the container's holder sent a malformed progress message");
    event.phase = static_cast<ImportEvent::Phase>(phase);
    event.cached = cached != 0;
    in >> std::ws;
    std::getline(in, event.image);
    event.image = printable(event.image);
    return event;
}

bool valid_variable_name(const std::string& name)
{
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front())))
        return false;
    for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
            return false;
    return true;
}

std::pair<std::string, std::string> parse_variable(const std::string& payload)
{
    auto eq = payload.find('=');
    std::string name = payload.substr(0, eq);
    if (eq == std::string::npos || !valid_variable_name(name) ||
        payload.find('\0') != std::string::npos)
        fail("the container's holder sent a malformed environment variable '{}'",
             printable(name.substr(0, 64)));
    return {name, payload.substr(eq + 1)};
}

// Text the holder sent for a log: each line made printable, line breaks kept.
std::string printable_lines(const std::string& text)
{
    std::string result;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = std::min(text.find('\n', start), text.size());
        result += printable(text.substr(start, end - start)) + "\n";
        start = end + 1;
    }
    return result;
}

// "LEVEL MESSAGE" from the holder's log (cocoon/log.h) into this process's log.
void forward_log(const std::string& payload)
{
    int level = payload.empty() ? -1 : payload.front() - '0';
    if (payload.size() < 2 || payload[1] != ' ' || level < static_cast<int>(LogLevel::Error) ||
        level > static_cast<int>(LogLevel::Debug))
        fail("the container's holder sent a malformed log message");
    log_message(static_cast<LogLevel>(level), "holder: " + payload.substr(2));
}

std::string parse_workdir(const std::string& payload)
{
    if (!payload.starts_with('/') || payload.size() >= PATH_MAX ||
        payload.find('\0') != std::string::npos)
        fail("the image's working directory '{}' is not an absolute path",
             printable(payload.substr(0, 256)));
    return payload;
}

// Where the holder program is installed: relative to this library unless configured as
// an absolute path.
std::string holder_program_path()
{
    return installed_program(COCOON_HOLDER_PROGRAM);
}

// Whether a child may switch to the job user while it shares this process's memory. After
// the switch, until it executes the holder, the child belongs to the user; the kernel makes
// it untraceable by them (its memory "not dumpable") unless fs.suid_dumpable is 1, the
// debugging setting: then ptrace could write into the parent's memory through it, and
// the child is forked instead.
bool may_share_memory_across_the_switch()
{
    UniqueFd fd(open("/proc/sys/fs/suid_dumpable", O_RDONLY | O_CLOEXEC));
    char value[4] = {};
    return fd.valid() && read(fd.get(), value, sizeof(value) - 1) > 0 && value[0] != '1';
}

// `parent`: the process whose death kills the holder until it is ready; 0 for none (a
// named holder, whose parent has already exited). `log_fd` becomes its stderr.
void prepare_holder_process(pid_t parent, std::array<int, 3> keep, int program_fd, int log_fd)
{
    // After the switch to the job user (which clears a parent-death signal).
    if (parent != 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent))
        _exit(1);
    setsid();
    for (int sig : ignored_signals)
        signal(sig, SIG_IGN);
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
        dup2(null_fd, 0);
        dup2(null_fd, 1);
    }
    dup2(log_fd, 2);
    // No allocation between fork and exec (slurmstepd has threads): sort in place.
    std::sort(keep.begin(), keep.end());
    unsigned first = 3;
    for (int fd : keep) {
        if (static_cast<unsigned>(fd) > first)
            close_range(first, static_cast<unsigned>(fd) - 1, 0);
        first = static_cast<unsigned>(fd) + 1;
        if (fd != program_fd)
            fcntl(fd, F_SETFD, 0); // inherited by the program; its own descriptor is not
    }
    close_range(first, ~0U, 0);
}

// Builds an argv/envp array before fork, so the child allocates nothing.
struct CArray {
    std::vector<std::string> strings;
    std::vector<char*> pointers;
    char** get()
    {
        pointers.clear();
        for (auto& s : strings)
            pointers.push_back(s.data());
        pointers.push_back(nullptr);
        return pointers.data();
    }
};

// How much of the log pipe one holder may put into this process's log, in all: the pipe
// holds 64 KiB, and a holder that writes without pause while it stops must not flood it.
constexpr size_t max_log_pipe_bytes = 1 << 20;

} // namespace

Holder Holder::start(const ContainerSpec& spec, const Config& config, const Hooks& hooks)
{
    // Checked on descriptors: root's (or the caller's), in directories nobody else can change.
    UniqueFd program = sys::open_trusted_program(holder_program_path(), "the holder program");
    int status_pipe[2];
    int control_pair[2];
    if (pipe2(status_pipe, O_CLOEXEC) != 0)
        throw_errno("pipe");
    UniqueFd status_read(status_pipe[0]);
    UniqueFd status_write(status_pipe[1]);
    // A socket, so that writing to a holder that died is an error, not a SIGPIPE.
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control_pair) != 0)
        throw_errno("socketpair");
    UniqueFd control_parent(control_pair[0]);
    UniqueFd control_child(control_pair[1]);

    CArray argv;
    argv.strings = {"cocoon-holder", "--status-fd", std::to_string(status_write.get()),
                    "--control-fd", std::to_string(control_child.get())};
    if (hooks.undumpable)
        argv.strings.emplace_back("--undumpable");
    if (hooks.named)
        argv.strings.emplace_back("--named");
    if (!hooks.image_holder_key.empty()) {
        argv.strings.emplace_back("--image-holder");
        argv.strings.push_back(hooks.image_holder_key);
    }
    CArray envp;
    for (const char* name : passed_variables)
        if (const char* value = getenv(name))
            envp.strings.push_back(fmt::format("{}={}", name, value));
    char** argv_pointers = argv.get();
    char** envp_pointers = envp.get();
    std::string request = encode_holder_request(spec, config);

    // The holder's stderr, read only by this process, at the end of the step
    // (util/log_pipe.h): non-blocking on both ends, so no writer ever waits for it.
    int log_pipe[2];
    if (pipe2(log_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        throw_errno("pipe");
    UniqueFd log_read(log_pipe[0]);
    UniqueFd log_write(log_pipe[1]);

    // A named holder must outlive its step, whose end kills what descends from slurmstepd
    // (proctrack/linuxproc): it is a grandchild whose parent exits at once, and this
    // process learns its pid through a pipe.
    int pid_pipe[2] = {-1, -1};
    if (hooks.named && pipe2(pid_pipe, O_CLOEXEC) != 0)
        throw_errno("pipe");
    UniqueFd pid_read(pid_pipe[0]);
    UniqueFd pid_write(pid_pipe[1]);

    // Not a ChildProcess::start: the child runs hooks.in_child (the switch to the job
    // user, in the plugin) before it executes the program, and a named holder forks once
    // more. No allocation in here (slurmstepd has threads).
    pid_t parent = getpid();
    auto exec_holder = [&]() -> int {
        prepare_holder_process(parent, {status_write.get(), control_child.get(), program.get()},
                               program.get(), log_write.get());
        syscall(SYS_execveat, program.get(), "", argv_pointers, envp_pointers, AT_EMPTY_PATH);
        char message[256];
        snprintf(message, sizeof(message), "cannot execute the holder program: %s",
                 strerror(errno));
        sys::write_frame_raw(status_write.get(), "error", message);
        return 127;
    };
    auto in_child = [&]() -> bool {
        try {
            if (hooks.in_child)
                hooks.in_child();
            return true;
        } catch (const std::exception& e) {
            sys::write_frame_raw(status_write.get(), "error", e.what());
            return false;
        }
    };
    auto step_holder = [&]() -> int { return in_child() ? exec_holder() : 1; };
    auto named_holder = [&]() -> int {
        if (!in_child())
            return 1;
        parent = 0;
        // Released: its parent (this child) exits now, and init reaps it.
        pid_t holder = ChildProcess::run(exec_holder).release();
        (void)!write(pid_write.get(), &holder, sizeof(holder));
        return holder > 0 ? 0 : 1;
    };
    // A step's holder is spawned: no copy of slurmstepd's page tables, and no copy-on-write
    // faults in slurmstepd afterwards. A named holder's child forks once more, which a
    // child sharing its parent's memory must not.
    ChildProcess child;
    if (hooks.named)
        child = ChildProcess::run(named_holder);
    else if (!hooks.in_child || may_share_memory_across_the_switch())
        child = ChildProcess::spawn(step_holder);
    else
        child = ChildProcess::run(step_holder);
    if (!child.running())
        throw_errno("cannot start the container holder");

    status_write.reset();
    control_child.reset();
    log_write.reset();
    pid_t pid = child.pid();
    if (hooks.named) {
        pid_write.reset();
        pid_t holder_pid = -1;
        bool got = read(pid_read.get(), &holder_pid, sizeof(holder_pid)) ==
                   static_cast<ssize_t>(sizeof(holder_pid));
        child.wait();
        if (!got || holder_pid <= 0) {
            // The switch to the job user failed (its reason is on the status pipe), or fork.
            sys::Frame frame = sys::read_frame(status_read.get(), max_message_bytes);
            throw Error(frame.type == "error" ? printable(frame.payload)
                                              : "cannot start the container holder");
        }
        pid = holder_pid;
    }
    Holder holder(pid, std::move(child), std::move(control_parent), std::move(log_read));
    std::string failure;
    try {
        sys::write_frame(holder.control_.get(), "request", request);
        failure = holder.receive(status_read.get(), hooks);
    } catch (const Error& e) {
        failure = e.what();
    }
    // What the holder wrote on its stderr while it set up, in the log now.
    holder.drain_log();
    if (failure.empty())
        return holder;
    if (hooks.named) {
        // Not this process's child: stop() cannot reap it.
        kill(holder.pid_, SIGKILL);
        holder.detach();
    }
    holder.stop();
    throw Error(failure);
}

std::string Holder::receive(int status_fd, const Hooks& hooks)
{
    // A long phase sends nothing: repeat the last progress event every second so the
    // display shows that work goes on.
    std::optional<ImportEvent> last_event;
    size_t variables = 0;
    size_t environment_bytes = 0;
    auto count = [&](const std::string& payload) {
        environment_bytes += payload.size();
        if (++variables > max_variables || environment_bytes > max_environment_bytes)
            fail("the image's environment is larger than {} variables or {} bytes", max_variables,
                 max_environment_bytes);
        return parse_variable(payload);
    };
    for (;;) {
        struct pollfd ready = {status_fd, POLLIN, 0};
        if (poll(&ready, 1, 1000) == 0) {
            if (hooks.progress && last_event)
                hooks.progress(*last_event);
            continue;
        }
        sys::Frame frame = sys::read_frame(status_fd, max_frame_bytes);
        const std::string& type = frame.type;
        if (type.empty())
            return "the container setup process died unexpectedly";
        if (type == "progress") {
            last_event = parse_progress(frame.payload.substr(0, max_message_bytes));
            if (hooks.progress)
                hooks.progress(*last_event);
        } else if (type == "image-env") {
            image_environment_.push_back(count(frame.payload));
        } else if (type == "image-workdir") {
            image_workdir_ = parse_workdir(frame.payload);
        } else if (type == "maps") {
            hooks.write_id_maps(pid_);
            sys::write_frame(control_.get(), "go");
        } else if (type == "kernel-mount") {
            answer_kernel_mount(frame.payload.substr(0, max_message_bytes), hooks);
        } else if (type == "warm") {
            answer_warm_mount(frame.payload.substr(0, max_message_bytes), hooks);
        } else if (type == "module-env") {
            module_environment_.push_back(count(frame.payload));
        } else if (type == "plan") {
            plan_text_ = printable_lines(frame.payload);
            log_output(LogLevel::Debug, "plan", plan_text_);
        } else if (type == "log") {
            forward_log(frame.payload.substr(0, max_message_bytes));
        } else if (type == "entrypoint-log") {
            if (hooks.entrypoint_log)
                hooks.entrypoint_log(printable_lines(frame.payload));
        } else if (type == "entrypoint-env") {
            entrypoint_environment_.push_back(count(frame.payload));
        } else if (type == "ready") {
            return "";
        } else if (type == "error") {
            std::string message = printable(frame.payload.substr(0, max_message_bytes));
            return message.empty() ? "the container could not be set up" : message;
        } else {
            return fmt::format("the container's holder sent an unexpected '{}' message", type);
        }
    }
}

// The holder asks for a kernel mount of a shared-cache image: the hook (root, in the
// plugin) decides; without one, or when it refuses, the holder uses squashfuse.
void Holder::answer_kernel_mount(const std::string& payload, const Hooks& hooks)
{
    TrustedImageRequest request = parse_trusted_image_request(payload);
    UniqueFd mount = hooks.kernel_mount ? hooks.kernel_mount(pid_, request) : UniqueFd();
    if (!mount.valid()) {
        sys::write_frame(control_.get(), "fuse");
        return;
    }
    sys::write_frame(control_.get(), "kernel-mount");
    sys::send_fd(control_.get(), mount.get());
}

Holder::Holder(pid_t pid, ChildProcess process, UniqueFd control, UniqueFd log) noexcept
    : pid_(pid)
    , process_(std::move(process))
    , control_(std::move(control))
    , log_(std::move(log))
{}

// The holder's image may be shared with the job's other steps (warm_mount_linger): the
// hook (root, in the plugin) finds or starts the job's image holder and takes a lease on
// it; without one, or when it cannot, the holder mounts the image itself.
void Holder::answer_warm_mount(const std::string& payload, const Hooks& hooks)
{
    if (!valid_warm_mount_key(payload))
        fail("the container's holder sent a malformed warm mount request");
    std::optional<WarmMount> warm;
    if (hooks.warm_mount)
        warm = hooks.warm_mount(pid_, payload);
    if (!warm) {
        sys::write_frame(control_.get(), "cold");
        return;
    }
    sys::write_frame(control_.get(), "warm");
    sys::send_fd(control_.get(), warm->user.get());
    sys::send_fd(control_.get(), warm->mnt.get());
    sys::send_fd(control_.get(), warm->lease.get());
}

Holder::Holder(Holder&& other) noexcept
    : pid_(std::exchange(other.pid_, -1))
    , process_(std::move(other.process_))
    , control_(std::move(other.control_))
    , log_(std::move(other.log_))
    , log_bytes_(other.log_bytes_)
    , image_environment_(std::move(other.image_environment_))
    , image_workdir_(std::move(other.image_workdir_))
    , entrypoint_environment_(std::move(other.entrypoint_environment_))
    , module_environment_(std::move(other.module_environment_))
    , plan_text_(std::move(other.plan_text_))
{}

Holder& Holder::operator=(Holder&& other) noexcept
{
    stop();
    pid_ = std::exchange(other.pid_, -1);
    process_ = std::move(other.process_);
    control_ = std::move(other.control_);
    log_ = std::move(other.log_);
    log_bytes_ = other.log_bytes_;
    image_environment_ = std::move(other.image_environment_);
    image_workdir_ = std::move(other.image_workdir_);
    entrypoint_environment_ = std::move(other.entrypoint_environment_);
    module_environment_ = std::move(other.module_environment_);
    plan_text_ = std::move(other.plan_text_);
    return *this;
}

Holder::~Holder()
{
    stop();
}

void Holder::drain_log() noexcept
{
    if (!log_.valid())
        return;
    try {
        std::string text;
        char buffer[16 << 10];
        while (log_bytes_ < max_log_pipe_bytes) {
            ssize_t n =
                read(log_.get(), buffer, std::min(sizeof(buffer), max_log_pipe_bytes - log_bytes_));
            if (n <= 0)
                break;
            text.append(buffer, static_cast<size_t>(n));
            log_bytes_ += static_cast<size_t>(n);
        }
        // The holder is the user's: its text is escaped and cut like any helper's output.
        log_output(LogLevel::Info, "holder", text, max_log_pipe_bytes);
    } catch (...) {
    }
}

void Holder::stop() noexcept
{
    // The end of the control stream tells the holder to stop.
    control_.reset();
    for (int waited = 0; process_.running() && waited < stop_grace_ms; waited += 10) {
        drain_log();
        process_.wait_for(10);
    }
    process_.kill();
    pid_ = -1;
    drain_log();
    log_.reset();
}

void Holder::detach() noexcept
{
    drain_log();
    control_.reset();
    log_.reset();
    // Still running, reaped by init (a named holder is not our child anyway).
    process_.release();
    pid_ = -1;
}

void write_id_maps(pid_t pid, const Identity& identity, bool with_supplementary_groups,
                   bool user_is_root)
{
    auto proc = fmt::format("/proc/{}/", pid);
    try {
        sys::write_file(proc + "uid_map",
                        user_is_root ? remapped_uid_map_text(identity) : uid_map_text(identity));
        // Always, before gid_map: the user owns this namespace, so any of their processes
        // on the host may setns into it with all capabilities there; without "deny" they
        // could drop a supplementary group there and defeat a "deny this group"
        // permission (CVE-2014-8989). Root may still map several gids afterwards.
        sys::write_file(proc + "setgroups", "deny");
        sys::write_file(proc + "gid_map",
                        user_is_root ? remapped_gid_map_text(identity, with_supplementary_groups)
                                     : gid_map_text(identity, with_supplementary_groups));
    } catch (const Error& e) {
        throw e.wrap("cannot map the user into the container");
    }
}

} // namespace cocoon
