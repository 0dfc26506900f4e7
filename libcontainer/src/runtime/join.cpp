#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/unique_fd.h"

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
    for (const auto& dir : {workdir, image_workdir, std::string("/")})
        if (!dir.empty() && chdir(dir.c_str()) == 0)
            return;
    throw_errno("cannot enter / in the container");
}

void forbid_new_privileges()
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        throw_errno("cannot set no_new_privs");
}

} // namespace cocoon
