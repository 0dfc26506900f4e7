// How a container is saved: three processes, none privileged.
//   saver   (a fork of the caller, dropped to the user by in_child) creates the temporary
//           file next to PATH on the host (removing those of killed savers), waits for the
//           two below, then renames the file into place or removes it.
//   opener  joins the container's namespaces and sends the saver a descriptor of the
//           container's root directory; nothing else runs inside the container, so no
//           program of the image is trusted or needed.
//   packer  joins only the container's user namespace, where the user owns the image's
//           files (uid 0 with a writable root), and runs the host's gensquashfs on that
//           descriptor: the owners written are those the container sees, and the program
//           and its libraries are the host's.
#include "cocoon/container_save.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "cocoon/child_process.h"
#include "cocoon/error.h"
#include "util/fd_passing.h"
#include "util/safe_dir.h"
#include "util/sys.h"

namespace cocoon {

namespace {

// The opener: a detached copy of the container's root mount alone, from inside it. Its
// submounts (/proc, /sys, /dev, /tmp, binds) are not in the copy, so the packer sees only
// the image and the changes made to it. The opener joins only the outer user namespace,
// which owns the mount namespace and so may clone its mounts.
UniqueFd open_container_root(const NamespaceFds& namespaces)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        throw_errno("socketpair");
    UniqueFd mine(pair[0]), theirs(pair[1]);
    ChildProcess opener = ChildProcess::run([&]() -> int {
        if (setns(namespaces.user.get(), CLONE_NEWUSER) != 0 ||
            setns(namespaces.mnt.get(), CLONE_NEWNS) != 0)
            return 1;
        int root = static_cast<int>(
            syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
        if (root < 0)
            return 2;
        try {
            sys::send_fd(theirs.get(), root);
        } catch (...) {
            return 3;
        }
        return 0;
    });
    if (!opener.running())
        throw_errno("fork");
    theirs.reset();
    UniqueFd root;
    try {
        root = sys::receive_fd(mine.get());
    } catch (const Error&) {
        // The opener failed before sending; its exit status says why.
    }
    int status = opener.wait();
    if (!root.valid())
        fail("cannot open the container's root ({})", WIFEXITED(status) && WEXITSTATUS(status) == 2
                                                          ? "cloning its mount failed"
                                                          : "has the container ended?");
    return root;
}

std::string last_line(std::string text)
{
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    auto newline = text.find_last_of('\n');
    return newline == std::string::npos ? text : text.substr(newline + 1);
}

// The packer: gensquashfs of the root into `output`, as the container's owner.
void pack(int program, int user_ns, int root, const std::string& output)
{
    int errors[2];
    if (pipe2(errors, O_CLOEXEC) != 0)
        throw_errno("pipe");
    UniqueFd errors_read(errors[0]), errors_write(errors[1]);
    std::string jobs = std::to_string(sys::usable_cpus());
    const char* argv[] = {"gensquashfs",  "--quiet", "--force",      "--keep-time",
                          "--compressor", "zstd",    "--num-jobs",   jobs.c_str(),
                          "--pack-dir",   ".",       output.c_str(), nullptr};
    const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", nullptr};
    // Not ChildProcess::start: it joins the user namespace and the root between fork and
    // exec.
    ChildProcess packer = ChildProcess::run([&]() -> int {
        int null_fd = open("/dev/null", O_RDWR);
        if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 ||
            dup2(errors_write.get(), 2) < 0 || setns(user_ns, CLONE_NEWUSER) != 0 ||
            fchdir(root) != 0)
            return 126;
        syscall(SYS_execveat, program, "", const_cast<char* const*>(argv),
                const_cast<char* const*>(envp), AT_EMPTY_PATH);
        return 127;
    });
    if (!packer.running())
        throw_errno("fork");
    errors_write.reset();
    std::string messages = sys::read_file(errors_read.get(), 1 << 20);
    int status = packer.wait();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("gensquashfs failed: {}",
             messages.empty() ? "it failed without a message" : last_line(messages));
}

// Removes the temporaries `prefix`XXXXXX in `dir` of earlier saves whose saver was killed
// (the job's time limit or a scancel during the save): nobody holds their lock any more.
void remove_dead_saves(const std::string& dir, const std::string& prefix)
{
    UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd.valid())
        return; // mkostemp, next, says what is wrong with the directory
    sys::remove_dead_temporaries(
        dir_fd.get(),
        [&](const std::string& name) {
            return name.size() == prefix.size() + 6 && name.starts_with(prefix);
        },
        1);
}

// The saver's work, as the user.
void save(const NamespaceFds& namespaces, const std::string& path, int program)
{
    std::filesystem::path target(path);
    std::string dir = target.parent_path().string();
    std::string prefix = "." + target.filename().string() + ".";
    remove_dead_saves(dir, prefix);
    std::string temp = (target.parent_path() / (prefix + "XXXXXX")).string();
    int fd = mkostemp(temp.data(), O_CLOEXEC);
    if (fd < 0)
        fail("cannot create a file in {}: {}; give a path in a directory you can write", dir,
             std::strerror(errno));
    UniqueFd file(fd);
    // Held until the file is renamed or removed: a later save to PATH knows by it whether
    // a temporary left next to PATH belongs to a saver that is gone (remove_dead_saves).
    flock(file.get(), LOCK_EX | LOCK_NB);
    try {
        mode_t mask = umask(0);
        umask(mask);
        if (fchmod(file.get(), 0666 & ~mask) != 0)
            throw_errno("fchmod");
        UniqueFd root = open_container_root(namespaces);
        pack(program, namespaces.user.get(), root.get(), temp);
        if (fsync(file.get()) != 0)
            throw_errno(fmt::format("cannot write {}", temp));
        if (rename(temp.c_str(), path.c_str()) != 0)
            throw_errno(fmt::format("cannot rename {} to {}", temp, path));
    } catch (...) {
        unlink(temp.c_str());
        throw;
    }
}

} // namespace

void save_container(const NamespaceFds& namespaces, const std::string& path, const Config& config,
                    const std::function<void()>& in_child)
{
    // gensquashfs comes with tar2sqfs (squashfs-tools-ng), in the same directory.
    std::string program_path =
        (std::filesystem::path(config.tar2sqfs).parent_path() / "gensquashfs").string();
    if (access(program_path.c_str(), X_OK) != 0)
        fail("the squashfs writer {} is not installed (package squashfs-tools-ng, next to "
             "cocoon.yaml's tar2sqfs)",
             program_path);
    UniqueFd program = sys::open_trusted_program(program_path, "the squashfs writer gensquashfs");

    int errors[2];
    if (pipe2(errors, O_CLOEXEC) != 0)
        throw_errno("pipe");
    UniqueFd errors_read(errors[0]), errors_write(errors[1]);
    ChildProcess saver = ChildProcess::run([&]() -> int {
        try {
            if (in_child)
                in_child();
            save(namespaces, path, program.get());
            return 0;
        } catch (const std::exception& e) {
            (void)!write(errors_write.get(), e.what(), std::strlen(e.what()));
        }
        return 1;
    });
    if (!saver.running())
        throw_errno("cannot start the save");
    errors_write.reset();
    std::string message = sys::read_file(errors_read.get(), 1 << 16);
    int status = saver.wait();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("{}", message.empty() ? "the save failed without a message" : message);
}

} // namespace cocoon
