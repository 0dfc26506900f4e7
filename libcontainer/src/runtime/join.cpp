#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
#include "util/sys.h"

namespace cocoon {

NamespaceFds open_namespaces(pid_t pid)
{
    NamespaceFds namespaces;
    namespaces.user =
        UniqueFd(open(fmt::format("/proc/{}/ns/user", pid).c_str(), O_RDONLY | O_CLOEXEC));
    namespaces.mnt =
        UniqueFd(open(fmt::format("/proc/{}/ns/mnt", pid).c_str(), O_RDONLY | O_CLOEXEC));
    if (!namespaces.user.valid() || !namespaces.mnt.valid())
        throw_errno("the container of this step is gone");
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

void forbid_new_privileges()
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        throw_errno("cannot set no_new_privs");
}

} // namespace cocoon
