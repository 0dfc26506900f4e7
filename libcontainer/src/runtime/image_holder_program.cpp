// The image holder (cocoon-holder --image-holder KEY): keeps one squashfs image mounted
// for the steps of a job on a node, or of the user's jobs (cocoon/warm_mount.h), run as
// the job user.
//
// The conversation with the plugin is a holder's (holder_program.cpp) without modules,
// plan or environment: request, maps/go, kernel-mount, ready (or error). Then, with its
// parent gone (it outlives the step that started it, like a named container):
//   - the plugin (root) copies the sending end of its lease socket (warm_lease_fd) and
//     sends one end of a socket pair per step; it acknowledges each with one byte;
//   - a step's holder that asks on its lease gets the inner user namespace made here once
//     (warm_inner_request), instead of making one of its own;
//   - a lease whose other end is closed (the step's holder ended or died) is dropped;
//   - with no lease left for warm_mount_linger seconds it closes its socket first (a
//     lease sent afterwards is closed unread: the sender sees that and mounts afresh),
//     stops squashfuse and exits. The job's end kills it, unless it is the user's
//     (warm_mount_across_jobs).
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <optional>
#include <vector>

#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/image.h"
#include "cocoon/log.h"
#include "runtime/holder_process.h"
#include "runtime/warm_mount_internal.h"
#include "util/fd_passing.h"
#include "util/frames.h"
#include "util/sys.h"

namespace cocoon {

namespace {

using Clock = std::chrono::steady_clock;

void serve_image(int status_fd, int control_fd, const std::string& key)
{
    ContainerSpec spec;
    Config config;
    read_holder_request(control_fd, "the image holder", spec, config);
    // The mount namespace this image holder started in (its first step's slurmstepd's),
    // kept while it lives: the plugin names its record after that namespace's identity,
    // which a namespace that no longer exists could pass to another.
    UniqueFd origin(open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
    if (!origin.valid())
        throw_errno("cannot keep the mount namespace of the image holder's step");
    UniqueFd receiver = make_lease_socket();
    auto image = open_image(spec, config, {});
    // The step asked for the file it opened; a tag may have moved to another image since.
    if (image->mount_identity() != key)
        fail("the image changed while its warm mount was prepared");
    create_container_namespaces(*image, status_fd, control_fd);
    sys::mount("tmpfs", warm_staging, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700",
               "cannot mount the image holder's staging directory");
    if (mkdir(warm_image_path, 0700) != 0)
        throw_errno(fmt::format("cannot create {}", warm_image_path));
    image->mount(warm_image_path);
    // Where the user is uid 0 here, the steps of a writable container run their tasks in an
    // inner user namespace that gives them back their own ids: made once, for all of them
    // (about 1.5 ms of every later step).
    UniqueFd inner;
    if (spec.options.user_is_outer_root())
        inner = make_inner_user_namespace(spec.identity);
    // The writable roots it keeps for its steps, on its own tmpfs (seen by no step).
    std::optional<OverlayPool> overlays;
    if (spec.options.user_is_outer_root())
        overlays.emplace(warm_image_path, warm_staging);
    set_log_sink(nullptr);
    sys::write_frame(status_fd, "ready");
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    serve_leases(receiver.get(), config.warm_mount_linger, inner.get(),
                 overlays ? &*overlays : nullptr);
    receiver.reset();
    close(warm_lease_fd);
    overlays.reset(); // before the image below them
    image->stop();
}

// A step that cannot be answered (it has gone) makes its own namespace: nothing to do here.
void answer_inner_request(int lease, int inner_user_namespace) noexcept
{
    try {
        if (inner_user_namespace >= 0)
            sys::send_fd(lease, inner_user_namespace);
        else
            (void)!send(lease, &warm_none, 1, MSG_NOSIGNAL);
    } catch (const Error&) {
    }
}

// A step that asks for a writable root gets a kept overlay or a new one; when none can be
// made (or the request is cut short) it mounts its own.
void answer_overlay_request(int lease, OverlayPool* overlays) noexcept
{
    uint64_t request[2] = {};
    // Sent in one piece with the request's byte: it is there already.
    bool whole = recv(lease, request, sizeof request, MSG_DONTWAIT) == sizeof request;
    try {
        if (whole && overlays) {
            UniqueFd overlay = overlays->take(lease, request[0], request[1]);
            return sys::send_fd(lease, overlay.get());
        }
    } catch (const Error& e) {
        log(LogLevel::Debug, "no kept writable root for a step: {}", e.what());
    }
    (void)!send(lease, &warm_none, 1, MSG_NOSIGNAL);
}

} // namespace

UniqueFd make_lease_socket()
{
    if (fcntl(warm_lease_fd, F_GETFD) != -1)
        fail("descriptor {} is already in use", warm_lease_fd);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0)
        throw_errno("socketpair");
    UniqueFd receiver(pair[0]);
    UniqueFd sender(pair[1]);
    if (dup3(sender.get(), warm_lease_fd, O_CLOEXEC) != warm_lease_fd)
        throw_errno("cannot place the lease socket");
    return receiver;
}

void serve_leases(int receiver, uint64_t linger_seconds, int inner_user_namespace,
                  OverlayPool* overlays)
{
    const auto linger = std::chrono::seconds(linger_seconds);
    std::vector<UniqueFd> leases;
    auto idle_since = Clock::now();
    for (;;) {
        int timeout = -1;
        if (leases.empty()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(idle_since + linger -
                                                                              Clock::now());
            if (left.count() <= 0)
                return;
            timeout = static_cast<int>(std::min<long long>(left.count(), INT_MAX));
        }
        std::vector<struct pollfd> fds{{receiver, POLLIN, 0}};
        for (const auto& lease : leases)
            fds.push_back({lease.get(), POLLIN, 0});
        if (poll(fds.data(), fds.size(), timeout) < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("poll");
        }
        bool had_leases = !leases.empty();
        for (size_t i = fds.size() - 1; i >= 1; --i) {
            if (fds[i].revents == 0)
                continue;
            char byte;
            if (read(fds[i].fd, &byte, 1) <= 0) {
                if (overlays)
                    overlays->release(fds[i].fd);
                leases.erase(leases.begin() + static_cast<long>(i - 1));
            } else if (byte == warm_inner_request) {
                answer_inner_request(fds[i].fd, inner_user_namespace);
            } else if (byte == warm_overlay_request) {
                answer_overlay_request(fds[i].fd, overlays);
            } else if (byte == warm_setup_done && overlays) {
                overlays->setup_done(fds[i].fd);
                (void)!send(fds[i].fd, &warm_lease_ack, 1, MSG_NOSIGNAL);
            } else if (byte == warm_setup_unconfirmed && overlays) {
                overlays->forget_setup(fds[i].fd);
            }
        }
        if (fds[0].revents & POLLIN) {
            try {
                UniqueFd lease = sys::receive_fd(receiver);
                if (send(lease.get(), &warm_lease_ack, 1, MSG_NOSIGNAL) == 1)
                    leases.push_back(std::move(lease));
            } catch (const Error&) {
                // Not a lease: nothing to count.
            }
        }
        if (had_leases && leases.empty())
            idle_since = Clock::now();
    }
}

int run_image_holder_program(int status_fd, int control_fd, bool undumpable,
                             const std::string& key) noexcept
{
    return run_holder_process(status_fd, undumpable,
                              [&] { serve_image(status_fd, control_fd, key); });
}

} // namespace cocoon
