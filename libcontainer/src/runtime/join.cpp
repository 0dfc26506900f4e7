#include <dirent.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <tuple>

#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
#include "util/sys.h"

namespace cocoon {

namespace {

// The holder's namespace `name` when it is not the caller's own (--container-unshare made
// it): joining one's own namespace again would need privileges the user lacks on the host.
UniqueFd open_private_namespace(pid_t pid, const char* name)
{
    UniqueFd fd(open(fmt::format("/proc/{}/ns/{}", pid, name).c_str(), O_RDONLY | O_CLOEXEC));
    struct stat theirs {
    }, own{};
    if (!fd.valid() || fstat(fd.get(), &theirs) != 0 ||
        stat(fmt::format("/proc/self/ns/{}", name).c_str(), &own) != 0)
        return {};
    if (theirs.st_dev == own.st_dev && theirs.st_ino == own.st_ino)
        return {};
    return fd;
}

} // namespace

NamespaceFds open_namespaces(pid_t pid)
{
    NamespaceFds namespaces;
    namespaces.user =
        UniqueFd(open(fmt::format("/proc/{}/ns/user", pid).c_str(), O_RDONLY | O_CLOEXEC));
    // The holder sits in the inner user namespace unless --container-remap-root: then the
    // outer one (which owns the mounts) is its parent, and is joined first.
    if (namespaces.user.valid()) {
        UniqueFd parent(ioctl(namespaces.user.get(), NS_GET_PARENT));
        struct stat theirs {
        }, own{};
        if (parent.valid() && fstat(parent.get(), &theirs) == 0 &&
            stat("/proc/self/ns/user", &own) == 0 &&
            (theirs.st_dev != own.st_dev || theirs.st_ino != own.st_ino)) {
            namespaces.inner_user = std::move(namespaces.user);
            namespaces.user = std::move(parent);
        }
    }
    namespaces.mnt =
        UniqueFd(open(fmt::format("/proc/{}/ns/mnt", pid).c_str(), O_RDONLY | O_CLOEXEC));
    if (!namespaces.user.valid() || !namespaces.mnt.valid())
        throw_errno("the container of this step is gone");
    namespaces.net = open_private_namespace(pid, "net");
    namespaces.ipc = open_private_namespace(pid, "ipc");
    namespaces.uts = open_private_namespace(pid, "uts");
    return namespaces;
}

int kill_namespace_members(int mnt_ns) noexcept
{
    struct stat wanted {};
    if (fstat(mnt_ns, &wanted) != 0)
        return 0;
    pid_t self = getpid();
    DIR* proc = opendir("/proc");
    if (!proc)
        return 0;
    int killed = 0;
    while (dirent* entry = readdir(proc)) {
        char* end = nullptr;
        long pid = std::strtol(entry->d_name, &end, 10);
        if (!end || *end != '\0' || pid <= 0 || pid == self)
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", pid);
        struct stat ns {};
        if (stat(path, &ns) == 0 && ns.st_dev == wanted.st_dev && ns.st_ino == wanted.st_ino &&
            kill(static_cast<pid_t>(pid), SIGKILL) == 0)
            ++killed;
    }
    closedir(proc);
    return killed;
}

void join_namespaces(const NamespaceFds& namespaces)
{
    if (setns(namespaces.user.get(), CLONE_NEWUSER) != 0)
        throw_errno("cannot join the container's user namespace");
    if (setns(namespaces.mnt.get(), CLONE_NEWNS) != 0)
        throw_errno("cannot join the container's mount namespace");
    const std::array<std::tuple<const UniqueFd*, int, const char*>, 3> private_namespaces = {{
        {&namespaces.net, CLONE_NEWNET, "network"},
        {&namespaces.ipc, CLONE_NEWIPC, "IPC"},
        {&namespaces.uts, CLONE_NEWUTS, "UTS"},
    }};
    for (const auto& [fd, type, what] : private_namespaces)
        if (fd->valid() && setns(fd->get(), type) != 0)
            throw_errno(fmt::format("cannot join the container's {} namespace", what));
    if (namespaces.inner_user.valid() && setns(namespaces.inner_user.get(), CLONE_NEWUSER) != 0)
        throw_errno("cannot join the container's inner user namespace");
}

void join_container(pid_t pid)
{
    join_namespaces(open_namespaces(pid));
}

void enter_workdir(const std::string& workdir, const std::string& image_workdir)
{
    // Resolved inside the container's root, refusing magic links: an image's WorkingDir of
    // /proc/PID/cwd must not take the task to a directory outside the container.
    UniqueFd root(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root.valid())
        throw_errno("cannot open / in the container");
    for (const auto& dir : {workdir, image_workdir}) {
        if (dir.empty())
            continue;
        UniqueFd fd = sys::open_in_root(root.get(), dir, O_PATH | O_DIRECTORY);
        if (fd.valid() && fchdir(fd.get()) == 0)
            return;
    }
    if (fchdir(root.get()) != 0)
        throw_errno("cannot enter / in the container");
}

void enter_requested_workdir(const std::string& path)
{
    // Relative paths start at the container's root, and ".." cannot leave it.
    UniqueFd root(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root.valid())
        throw_errno("cannot open / in the container");
    UniqueFd fd = sys::open_in_root(root.get(), path, O_PATH | O_DIRECTORY);
    if (!fd.valid() || fchdir(fd.get()) != 0)
        throw_errno(fmt::format("--container-workdir={}: cannot enter it in the container",
                                printable(path)));
}

void forbid_new_privileges()
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        throw_errno("cannot set no_new_privs");
}

} // namespace cocoon
