// ROOT CONTEXT. lease_warm_mount runs in slurmstepd with its effective uid raised. It
// touches one process: the image holder whose pid and start time the plugin recorded in
// its root-only directory, pinned by a pidfd before anything else. It copies one
// descriptor from it (its lease socket), sends it one end of a new socket pair, reads one
// byte back, and opens its /proc/PID/ns/{user,mnt}. Nothing is parsed, nothing is
// executed, and no path the user controls is opened.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cocoon/error.h"
#include "cocoon/named_container.h"
#include "cocoon/warm_mount.h"
#include "runtime/warm_mount_internal.h"
#include "util/fd_passing.h"
#include "util/sys.h"

namespace cocoon {

namespace {

constexpr int acknowledge_ms = 5000;

UniqueFd open_namespace(pid_t pid, const char* name)
{
    UniqueFd fd(open(fmt::format("/proc/{}/ns/{}", pid, name).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
        throw_errno(fmt::format("cannot open the image holder's {} namespace", name));
    return fd;
}

} // namespace

bool valid_warm_mount_key(const std::string& key)
{
    if (key.empty() || key.size() > 80)
        return false;
    for (char c : key)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'))
            return false;
    return true;
}

WarmMount lease_warm_mount(pid_t pid, unsigned long long start_time)
{
    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd.valid())
        throw_errno("the image holder has ended");
    // Pinned: from here on the pidfd names this process, never a later one with its pid.
    if (process_start_time(pid) != start_time)
        fail("the image holder has ended");
    UniqueFd sender(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), warm_lease_fd, 0)));
    if (!sender.valid())
        throw_errno("cannot reach the image holder");
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        throw_errno("socketpair");
    UniqueFd lease(pair[0]);
    UniqueFd theirs(pair[1]);
    sys::send_fd(sender.get(), theirs.get());
    theirs.reset();
    sender.reset();
    // An image holder that is ending closes its socket first: the end we sent is then
    // closed with it, and this read sees the end of the stream at once.
    char byte = 0;
    if (!sys::wait_readable(lease.get(), acknowledge_ms) || read(lease.get(), &byte, 1) != 1 ||
        byte != warm_lease_ack)
        fail("the image holder did not accept the step");
    WarmMount mount;
    mount.user = open_namespace(pid, "user");
    mount.mnt = open_namespace(pid, "mnt");
    if (process_start_time(pid) != start_time)
        fail("the image holder has ended");
    mount.lease = std::move(lease);
    return mount;
}

} // namespace cocoon
