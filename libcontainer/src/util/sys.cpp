#include "util/sys.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "cocoon/error.h"

namespace cocoon::sys {

std::string fd_path(int fd)
{
    return fmt::format("/proc/self/fd/{}", fd);
}

std::string fd_path(int dir_fd, const std::string& name)
{
    return fmt::format("/proc/self/fd/{}/{}", dir_fd, name);
}

UniqueFd open_in_root(int root_fd, const std::string& path, int flags)
{
    struct open_how how {};
    how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    auto first = path.find_first_not_of('/');
    std::string relative = first == std::string::npos ? "." : path.substr(first);
    long fd;
    do {
        fd = syscall(SYS_openat2, root_fd, relative.c_str(), &how, sizeof(how));
    } while (fd < 0 && errno == EAGAIN);
    return UniqueFd(static_cast<int>(fd));
}

void mount(const std::string& source, const std::string& target, const char* type,
           unsigned long flags, const std::string& data, const std::string& what)
{
    if (::mount(source.c_str(), target.c_str(), type, flags,
                data.empty() ? nullptr : data.c_str()) != 0)
        throw_errno(what);
}

void set_mount_attributes(int fd, unsigned long long attributes, bool recursive,
                          const std::string& what)
{
    struct mount_attr attr {};
    attr.attr_set = attributes;
    unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0);
    if (mount_setattr(fd, "", flags, &attr, sizeof(attr)) != 0)
        throw_errno(what);
}

void write_file(const std::string& path, const std::string& content)
{
    UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid())
        throw_errno(fmt::format("cannot open {}", path));
    write_all(fd.get(), content);
}

std::string read_file(int fd, size_t limit)
{
    std::string content;
    char buffer[8192];
    for (;;) {
        ssize_t n = read(fd, buffer, sizeof(buffer));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("read");
        if (n == 0)
            return content;
        content.append(buffer, static_cast<size_t>(n));
        if (content.size() > limit)
            throw Error(ErrorKind::TooLarge, fmt::format("file is larger than {} bytes", limit));
    }
}

std::optional<std::string> read_regular_file(const std::string& path, size_t limit)
{
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd.valid()) {
        if (errno == ENOENT || errno == ENOTDIR)
            return std::nullopt;
        throw_errno(fmt::format("cannot read {}", path));
    }
    struct stat st {};
    if (fstat(fd.get(), &st) != 0)
        throw_errno(fmt::format("cannot read {}", path));
    if (!S_ISREG(st.st_mode))
        fail("{} is not a regular file", path);
    if (static_cast<unsigned long long>(st.st_size) > limit)
        fail("{} is larger than {} bytes", path, limit);
    try {
        return read_file(fd.get(), limit);
    } catch (const Error& e) {
        throw e.wrap(fmt::format("cannot read {}", path));
    }
}

void close_fds_except(const std::vector<int>& keep)
{
    std::vector<int> sorted = keep;
    sorted.push_back(2);
    std::sort(sorted.begin(), sorted.end());
    unsigned first = 3;
    for (int fd : sorted) {
        if (fd < static_cast<int>(first))
            continue;
        if (static_cast<unsigned>(fd) > first)
            close_range(first, static_cast<unsigned>(fd) - 1, 0);
        first = static_cast<unsigned>(fd) + 1;
    }
    close_range(first, ~0U, 0);
}

std::string host_name()
{
    char name[256] = "";
    gethostname(name, sizeof(name) - 1);
    return name;
}

void write_all(int fd, const std::string& data)
{
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("write");
        done += static_cast<size_t>(n);
    }
}

bool wait_readable(int fd, int timeout_ms)
{
    struct pollfd input = {fd, POLLIN, 0};
    int polled;
    do {
        polled = poll(&input, 1, timeout_ms);
    } while (polled < 0 && errno == EINTR);
    return polled == 1;
}

unsigned usable_cpus()
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return std::max(1u, std::thread::hardware_concurrency());
    return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
}

std::optional<std::vector<std::string>> directory_entries(int dir)
{
    DIR* listing = fdopendir(fcntl(dir, F_DUPFD_CLOEXEC, 0));
    if (!listing)
        return std::nullopt;
    std::unique_ptr<DIR, int (*)(DIR*)> closer(listing, closedir);
    rewinddir(listing); // the descriptor's offset is shared with `dir`
    std::vector<std::string> names;
    while (dirent* entry = readdir(listing)) {
        std::string name = entry->d_name;
        if (name != "." && name != "..")
            names.push_back(std::move(name));
    }
    return names;
}

} // namespace cocoon::sys
