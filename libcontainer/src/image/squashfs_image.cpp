#include "squashfs_image.h"

#include <fcntl.h>
#include <linux/securebits.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "cocoon/error.h"
#include "cocoon/log.h"
#include "util/safe_dir.h"
#include "util/sys.h"

namespace cocoon {

namespace {

// Fixed descriptor numbers in the squashfuse server, so its argv is predictable.
constexpr int server_fuse_fd = 3;
constexpr int server_image_fd = 4;

[[noreturn]] void exec_server(const std::string& squashfuse, int program_fd, int fuse_fd,
                              int image_fd, int stderr_fd)
{
    // Between fork and exec: async-signal-safe calls only.
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 || dup2(stderr_fd, 2) < 0)
        _exit(126);
    // Move the two descriptors out of the way before placing them at 3 and 4.
    int fuse_tmp = fcntl(fuse_fd, F_DUPFD, 10);
    int image_tmp = fcntl(image_fd, F_DUPFD, 10);
    int program_tmp = fcntl(program_fd, F_DUPFD, 10);
    // The program's descriptor is close-on-exec: the server does not inherit it.
    if (fuse_tmp < 0 || image_tmp < 0 || program_tmp < 0 || dup2(fuse_tmp, server_fuse_fd) < 0 ||
        dup2(image_tmp, server_image_fd) < 0 ||
        dup3(program_tmp, server_image_fd + 1, O_CLOEXEC) < 0)
        _exit(126);
    close_range(server_image_fd + 2, ~0U, 0);
    // The server dies with the holder; nothing else may stop it while tasks use the mount.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Where the user is uid 0 of the container's user namespace, executing a program would
    // give it every capability there: the server reads the image and needs none.
    if (getuid() == 0 &&
        prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                     SECBIT_NO_SETUID_FIXUP_LOCKED) != 0)
        _exit(126);
    char image_arg[] = "/proc/self/fd/4";
    char mount_arg[] = "/dev/fd/3";
    char foreground[] = "-f";
    char* argv[] = {const_cast<char*>(squashfuse.c_str()), foreground, image_arg, mount_arg,
                    nullptr};
    char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char* envp[] = {path_env, nullptr};
    syscall(SYS_execveat, server_image_fd + 1, "", argv, envp, AT_EMPTY_PATH);
    _exit(127);
}

std::string first_line(const std::string& text)
{
    auto end = text.find('\n');
    return end == std::string::npos ? text : text.substr(0, end);
}

} // namespace

void check_squashfs_superblock(int fd, const std::string& path)
{
    unsigned char superblock[96];
    ssize_t n = pread(fd, superblock, sizeof(superblock), 0);
    if (n < 0)
        throw_errno(fmt::format("cannot read image {}", path));
    if (n < static_cast<ssize_t>(sizeof(superblock)) || std::memcmp(superblock, "hsqs", 4) != 0)
        fail("image {} is not a squashfs file (give a squashfs file or a root filesystem "
             "directory)",
             path);
    auto major = static_cast<unsigned>(superblock[28] | (superblock[29] << 8));
    if (major != 4)
        fail("image {} is squashfs version {}, only version 4 is supported", path, major);
}

SquashfsImage::SquashfsImage(std::string path, UniqueFd fd, const Config& config)
    : path_(std::move(path))
    , fd_(std::move(fd))
    , squashfuse_(config.squashfuse)
{
    check_squashfs_superblock(fd_.get(), path_);
    // Marks the image in use for as long as this descriptor lives (squashfuse inherits it),
    // so cache eviction leaves it alone.
    flock(fd_.get(), LOCK_SH | LOCK_NB);
    if (access(squashfuse_.c_str(), X_OK) != 0)
        fail("squashfuse server {} is not installed on this node (ask your admin; cocoon.yaml "
             "key squashfuse)",
             squashfuse_);
    // Checked on its descriptor now, while owners are still the host's (in the container's
    // user namespace root shows as the overflow uid): nobody but root (or the user) can
    // have replaced it.
    program_ = sys::open_trusted_program(squashfuse_,
                                         "the squashfuse program (cocoon.yaml key squashfuse)");
}

SquashfsImage::~SquashfsImage()
{
    stop();
}

void SquashfsImage::mount(const std::string& target)
{
    // The descriptor must be opened inside the user namespace that mounts: FUSE refuses a
    // /dev/fuse opened in another one.
    UniqueFd fuse(open("/dev/fuse", O_RDWR | O_CLOEXEC));
    if (!fuse.valid())
        throw_errno("cannot open /dev/fuse (node prerequisite: the fuse module loaded and "
                    "/dev/fuse mode 0666; ask your admin)");
    // default_permissions: the kernel checks each access against the image's owners and
    // modes (squashfuse itself checks nothing), so a 0600 root file stays unreadable.
    // user_id and group_id are read in the mounting user namespace, where the user may be
    // uid 0 (the container's outer namespace maps the user to root).
    auto options = fmt::format("fd={},rootmode=40000,user_id={},group_id={},allow_other,"
                               "default_permissions",
                               fuse.get(), getuid(), getgid());
    sys::mount("cocoon", target, "fuse.squashfuse", MS_RDONLY | MS_NOSUID | MS_NODEV, options,
               fmt::format("cannot mount image {}", path_));

    // Its stderr: read here if it fails to start, else forwarded by the holder to the log
    // (take_output). Non-blocking for the server: a message that does not fit is lost,
    // but the server never stops on it while tasks read the image.
    int err_pipe[2];
    if (pipe2(err_pipe, O_CLOEXEC) != 0)
        throw_errno("pipe");
    UniqueFd err_read(err_pipe[0]);
    UniqueFd err_write(err_pipe[1]);
    if (fcntl(err_write.get(), F_SETFL, O_NONBLOCK) != 0)
        throw_errno("fcntl");
    // Not ChildProcess::start: the server sets its parent-death signal and secure bits
    // between fork and exec. Spawned (exec_server makes system calls only): a fork would
    // copy this process's page tables, and each page it writes afterwards would fault.
    server_ = ChildProcess::spawn([&]() -> int {
        exec_server(squashfuse_, program_.get(), fuse.get(), fd_.get(), err_write.get());
    });
    if (!server_.running())
        throw_errno("cannot start squashfuse");
    // Only the server may hold /dev/fuse: if it dies, the kernel then aborts the
    // connection and nothing hangs on the mount.
    fuse.reset();
    err_write.reset();

    struct stat st {};
    if (stat(target.c_str(), &st) != 0) {
        int error = errno;
        stop();
        std::string output = sys::read_file(err_read.get(), size_t{64} * 1024);
        // The user's message gets the first line; the admin's log gets all of it.
        log_output(LogLevel::Info, "squashfuse", output);
        std::string message = first_line(output);
        if (message.empty())
            message = std::strerror(error);
        fail("cannot mount image {}: squashfuse: {}", path_, message);
    }
    output_ = std::move(err_read);
}

std::string SquashfsImage::mount_identity() const
{
    struct stat st {};
    if (fstat(fd_.get(), &st) != 0)
        return {};
    return fmt::format("{:x}-{:x}-{:x}-{:x}", st.st_dev, st.st_ino, st.st_size, st.st_mtime);
}

void SquashfsImage::stop() noexcept
{
    server_.kill();
}

} // namespace cocoon
