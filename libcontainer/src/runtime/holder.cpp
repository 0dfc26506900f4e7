#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <sstream>

#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/plan.h"
#include "entrypoint.h"
#include "rootfs.h"
#include "cocoon/image_config.h"
#include <nlohmann/json.hpp>
#include "util/sys.h"

namespace cocoon {

namespace {

constexpr int stop_grace_ms = 5000;

// Signals a job delivers to its step (Ctrl-C, scancel, time limit) are for the tasks: the
// holder and the FUSE server must outlive the tasks so they can still read the image. They
// go with SIGKILL or when told to stop.
constexpr int ignored_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
                                   SIGUSR2, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU};

// Import progress travels from the holder to the parent as one line per event.
std::string format_progress(const ImportEvent& event)
{
    return fmt::format("progress {} {} {} {} {} {} {}\n", static_cast<int>(event.phase),
                       event.layer, event.layers, event.bytes, event.total_bytes,
                       event.cached ? 1 : 0, event.image);
}

ImportEvent parse_progress(const std::string& line)
{
    ImportEvent event;
    int phase = 0;
    int cached = 0;
    std::istringstream in(line.substr(9));
    in >> phase >> event.layer >> event.layers >> event.bytes >> event.total_bytes >> cached;
    event.phase = static_cast<ImportEvent::Phase>(phase);
    event.cached = cached != 0;
    in >> std::ws;
    std::getline(in, event.image);
    return event;
}

// Runs the image's entrypoint and sends what it changed in the environment as one line
// "env {JSON object}".
void report_entrypoint_environment(const ContainerSpec& spec, const Config& config,
                                   const ImageConfig& image, int status_fd)
{
    if (image.entrypoint.empty())
        return;
    auto input = entrypoint_input(image, spec);
    nlohmann::json changes = nlohmann::json::object();
    auto output = run_entrypoint(image, spec, input, config.seccomp);
    for (const auto& [name, value] : environment_changes(input, output))
        changes[name] = value;
    sys::write_all(status_fd, "env " + changes.dump() + "\n");
}

void prepare_holder_process(pid_t parent, int status_fd, int control_fd)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        fail("the step ended while its container was being set up");
    setsid();
    for (int sig : ignored_signals)
        signal(sig, SIG_IGN);
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd < 0)
        throw_errno("cannot open /dev/null");
    dup2(null_fd, 0);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    sys::close_fds_except({status_fd, control_fd});
}

[[noreturn]] void holder_main(const ContainerSpec& spec, const Config& config,
                              const Holder::Hooks& hooks, pid_t parent, int status_fd,
                              int control_fd)
{
    try {
        if (hooks.in_child)
            hooks.in_child();
        prepare_holder_process(parent, status_fd, control_fd);
        auto image = open_image(spec, config, [status_fd](const ImportEvent& event) {
            sys::write_all(status_fd, format_progress(event));
        });
        std::string image_config = image->config();
        if (!image_config.empty()) {
            // JSON whitespace may be a newline; inside strings it is escaped.
            std::replace(image_config.begin(), image_config.end(), '\n', ' ');
            sys::write_all(status_fd, "config " + image_config + "\n");
        }
        if (unshare(CLONE_NEWUSER) != 0)
            throw_errno("cannot create a user namespace (node prerequisite: unprivileged "
                        "user namespaces enabled; ask your admin)");
        sys::write_all(status_fd, "maps\n");
        if (sys::read_line(control_fd) != "go")
            _exit(1);
        if (unshare(CLONE_NEWNS) != 0)
            throw_errno("cannot create a mount namespace");
        assemble_rootfs(plan_container(spec, config), *image, spec);
        if (spec.run_entrypoint)
            report_entrypoint_environment(spec, config, parse_image_config(image_config),
                                          status_fd);
        sys::write_all(status_fd, "ready\n");
        // Wait for the end of the step: EOF on the control pipe.
        while (!sys::read_line(control_fd).empty()) {
        }
        image->stop();
        _exit(0);
    } catch (const std::exception& e) {
        std::string message = e.what();
        for (char& c : message)
            if (c == '\n')
                c = ' ';
        try {
            sys::write_all(status_fd, "error " + message + "\n");
        } catch (...) {
        }
        _exit(1);
    }
}

void reap(pid_t pid) noexcept
{
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
}

} // namespace

Holder Holder::start(const ContainerSpec& spec, const Config& config, const Hooks& hooks)
{
    int status_pipe[2];
    int control_pipe[2];
    if (pipe2(status_pipe, O_CLOEXEC) != 0)
        throw_errno("pipe");
    UniqueFd status_read(status_pipe[0]);
    UniqueFd status_write(status_pipe[1]);
    if (pipe2(control_pipe, O_CLOEXEC) != 0)
        throw_errno("pipe");
    UniqueFd control_read(control_pipe[0]);
    UniqueFd control_write(control_pipe[1]);

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        throw_errno("cannot start the container holder");
    if (pid == 0)
        holder_main(spec, config, hooks, parent, status_write.get(), control_read.get());

    status_write.reset();
    control_read.reset();
    Holder holder(pid, control_write.release());
    std::string line;
    // The holder reports, in order: import progress, the image configuration, its request
    // for id maps, the entrypoint's environment, and "ready" (or "error ..."). A long
    // phase sends nothing: repeat the last progress event every second so the display
    // shows that work goes on.
    std::optional<ImportEvent> last_event;
    for (;;) {
        struct pollfd ready = {status_read.get(), POLLIN, 0};
        if (poll(&ready, 1, 1000) == 0) {
            if (hooks.progress && last_event)
                hooks.progress(*last_event);
            continue;
        }
        line = sys::read_line(status_read.get());
        if (line.starts_with("progress ")) {
            last_event = parse_progress(line);
            if (hooks.progress)
                hooks.progress(*last_event);
        } else if (line.starts_with("config ")) {
            holder.image_config_ = line.substr(7);
        } else if (line == "maps") {
            hooks.write_id_maps(pid);
            sys::write_all(holder.control_fd_, "go\n");
        } else if (line.starts_with("env ")) {
            const nlohmann::json changes = nlohmann::json::parse(line.substr(4));
            for (auto it = changes.begin(); it != changes.end(); ++it)
                holder.entrypoint_environment_.emplace_back(it.key(), it->get<std::string>());
        } else {
            break;
        }
    }
    if (line == "ready")
        return holder;
    holder.stop();
    if (line.starts_with("error "))
        throw Error(line.substr(6));
    fail("the container setup process died unexpectedly");
}

Holder::Holder(Holder&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), control_fd_(std::exchange(other.control_fd_, -1)),
      image_config_(std::move(other.image_config_)),
      entrypoint_environment_(std::move(other.entrypoint_environment_))
{
}

Holder& Holder::operator=(Holder&& other) noexcept
{
    stop();
    pid_ = std::exchange(other.pid_, -1);
    control_fd_ = std::exchange(other.control_fd_, -1);
    image_config_ = std::move(other.image_config_);
    entrypoint_environment_ = std::move(other.entrypoint_environment_);
    return *this;
}

Holder::~Holder()
{
    stop();
}

void Holder::stop() noexcept
{
    if (control_fd_ >= 0) {
        close(control_fd_);
        control_fd_ = -1;
    }
    if (pid_ <= 0)
        return;
    for (int waited = 0; waited < stop_grace_ms; waited += 10) {
        pid_t rc = waitpid(pid_, nullptr, WNOHANG);
        if (rc == pid_ || (rc < 0 && errno != EINTR)) {
            pid_ = -1;
            return;
        }
        usleep(10 * 1000);
    }
    kill(pid_, SIGKILL);
    reap(pid_);
    pid_ = -1;
}

void write_id_maps(pid_t pid, const Identity& identity, bool with_supplementary_groups)
{
    auto proc = fmt::format("/proc/{}/", pid);
    try {
        sys::write_file(proc + "uid_map", uid_map_text(identity));
        if (!with_supplementary_groups)
            sys::write_file(proc + "setgroups", "deny");
        sys::write_file(proc + "gid_map", gid_map_text(identity, with_supplementary_groups));
    } catch (const Error& e) {
        throw e.wrap("cannot map the user into the container");
    }
}

} // namespace cocoon
