// A step holder's side of warm image mounts (cocoon/warm_mount.h): join the image holder
// the plugin gives, and mount its image instead of a fresh one.
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "cocoon/error.h"
#include "cocoon/log.h"
#include "runtime/warm_mount_internal.h"
#include "util/fd_passing.h"
#include "util/frames.h"
#include "util/sys.h"

namespace cocoon {

// How long a step waits for what it asks the image holder for (its inner user namespace, a
// writable root) before making its own.
constexpr int answer_ms = 1000;

WarmImage::WarmImage(ImageSource& image, UniqueFd clone, UniqueFd lease)
    : image_(image)
    , clone_(std::move(clone))
    , lease_(std::move(lease))
{}

void WarmImage::mount(const std::string& target)
{
    // An image holder killed after it accepted this step leaves a FUSE mount whose server
    // is gone (ENOTCONN): mount the image afresh rather than fail the step.
    struct statfs st {};
    if (fstatfs(clone_.get(), &st) != 0) {
        log(LogLevel::Info,
            "the job's warm image mount has ended ({}); mounting the image "
            "afresh",
            std::strerror(errno));
        clone_.reset();
        lease_.reset();
        return image_.mount(target);
    }
    if (syscall(SYS_move_mount, clone_.get(), "", AT_FDCWD, target.c_str(),
                MOVE_MOUNT_F_EMPTY_PATH) != 0)
        throw_errno(fmt::format("cannot place the job's warm image mount at {}", target));
    clone_.reset();
}

UniqueFd WarmImage::answer(const char* what) const
{
    if (!sys::wait_readable(lease_.get(), answer_ms)) {
        // A late answer would be read as the answer to the next request: ask nothing more.
        unanswered_ = true;
        return {};
    }
    try {
        return sys::receive_fd(lease_.get());
    } catch (const Error& e) {
        log(LogLevel::Debug, "the job's image holder gives no {} ({})", what, e.what());
        return {};
    }
}

UniqueFd WarmImage::inner_user_namespace() const
{
    if (!lease_.valid() || unanswered_ ||
        send(lease_.get(), &warm_inner_request, 1, MSG_NOSIGNAL) != 1)
        return {};
    return answer("inner user namespace");
}

UniqueFd WarmImage::writable_root(uint64_t plan_key, uint64_t size)
{
    // Its lower layer is the image holder's mount: not when that has ended (see mount()).
    struct statfs st {};
    if (!clone_.valid() || fstatfs(clone_.get(), &st) != 0)
        return {};
    char request[1 + 2 * sizeof(uint64_t)] = {warm_overlay_request};
    std::memcpy(request + 1, &plan_key, sizeof plan_key);
    std::memcpy(request + 1 + sizeof plan_key, &size, sizeof size);
    if (!lease_.valid() || unanswered_ ||
        send(lease_.get(), request, sizeof request, MSG_NOSIGNAL) != sizeof request)
        return {};
    return answer("writable root");
}

void WarmImage::setup_done() const
{
    if (!lease_.valid() || send(lease_.get(), &warm_setup_done, 1, MSG_NOSIGNAL) != 1)
        return;
    char byte = 0;
    if (sys::wait_readable(lease_.get(), answer_ms) && read(lease_.get(), &byte, 1) == 1 &&
        byte == warm_lease_ack)
        return;
    // The snapshot may come after the tasks have written: the overlay must not be kept.
    log(LogLevel::Debug, "the job's image holder did not confirm the writable root's setup");
    unanswered_ = true;
    (void)!send(lease_.get(), &warm_setup_unconfirmed, 1, MSG_NOSIGNAL);
}

std::unique_ptr<WarmImage> join_warm_mount(ImageSource& image, const Config& config, int status_fd,
                                           int control_fd)
{
    if (config.warm_mount_linger == 0)
        return nullptr;
    std::string key = image.mount_identity();
    if (key.empty())
        return nullptr;
    sys::write_frame(status_fd, "warm", key);
    sys::Frame answer = sys::read_frame(control_fd, 0);
    if (answer.type == "cold")
        return nullptr;
    if (answer.type != "warm")
        _exit(1); // the parent gave up
    UniqueFd user = sys::receive_fd(control_fd);
    UniqueFd mnt = sys::receive_fd(control_fd);
    UniqueFd lease = sys::receive_fd(control_fd);
    // The image holder's user namespace belongs to this user, with the maps this step
    // would have been given: joining it gives the capabilities there that unsharing would.
    if (setns(user.get(), CLONE_NEWUSER) != 0)
        throw_errno("cannot join the user namespace of the job's warm image mount");
    if (setns(mnt.get(), CLONE_NEWNS) != 0)
        throw_errno("cannot join the mount namespace of the job's warm image mount");
    // A private copy: what this step mounts is its own, as with a new namespace.
    if (unshare(CLONE_NEWNS) != 0)
        throw_errno("cannot create a mount namespace");
    UniqueFd clone(static_cast<int>(
        syscall(SYS_open_tree, AT_FDCWD, warm_image_path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)));
    if (!clone.valid())
        throw_errno("cannot clone the job's warm image mount");
    // The image holder's tmpfs covers the host's /tmp, where a working directory may lie.
    if (umount2(warm_staging, MNT_DETACH) != 0)
        throw_errno("cannot uncover /tmp after joining the job's warm image mount");
    log(LogLevel::Debug, "using the job's warm image mount");
    return std::make_unique<WarmImage>(image, std::move(clone), std::move(lease));
}

} // namespace cocoon
