// ROOT CONTEXT. Everything in this file runs as root (slurmstepd in user_init with its
// effective uid raised; the job prolog and epilog). It touches only
// RUNTIME_DIR/job-JOBID/NAME and RUNTIME_DIR/user-UID/NAME (NAME or +NAME: an image
// holder), where NAME was checked to be a plain name (letters, digits, '.', '_', '-', not
// starting with '.') and JOBID and UID are numbers; every open refuses symbolic links, and
// directories must be root's, mode 0700.
// The records it reads are those it wrote. It runs nothing; it sends SIGKILL only to the
// processes in the mount namespace of a holder whose pid and start time match its record.
#include "named_containers.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon_build_config.h"

namespace cocoon::spank {

namespace {

constexpr size_t max_record_bytes = 4 << 20;
constexpr int end_wait_ms = 5000;

bool plain_name(const std::string& name)
{
    if (name.empty() || name.size() > 255 || name.front() == '.')
        return false;
    for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
            return false;
    return true;
}

// A record's file name: a container's name, or '+' and a plain name for the job's image
// holders (warm_mount_linger), which no container name can be.
bool record_name(const std::string& name)
{
    return plain_name(name.starts_with('+') ? name.substr(1) : name);
}

// Opens (with `create`: makes first) directory `name` under `parent`, root's and 0700.
UniqueFd open_private_dir(int parent, const std::string& name, bool create)
{
    if (create && mkdirat(parent, name.c_str(), 0700) != 0 && errno != EEXIST)
        throw_errno(fmt::format("cannot create {}", name));
    UniqueFd fd(openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
        if (errno == ENOENT && !create)
            return {};
        throw_errno(fmt::format("cannot open {}", name));
    }
    struct stat st {};
    if (fstat(fd.get(), &st) != 0)
        throw_errno(fmt::format("cannot inspect {}", name));
    if (st.st_uid != 0 || (st.st_mode & 077) != 0)
        fail("{} in {} is not root's with mode 0700; ask your admin", name, COCOON_RUNTIME_DIR);
    return fd;
}

std::string read_all(int fd)
{
    std::string text;
    char buffer[65536];
    for (;;) {
        ssize_t n = read(fd, buffer, sizeof(buffer));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("cannot read a named container record");
        if (n == 0)
            return text;
        text.append(buffer, static_cast<size_t>(n));
        if (text.size() > max_record_bytes)
            fail("a named container record is larger than {} bytes", max_record_bytes);
    }
}

void write_all(int fd, const std::string& text)
{
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("cannot write a named container record");
        done += static_cast<size_t>(n);
    }
}

// The names in directory `dir` (but . and ..); none when it cannot be read.
std::vector<std::string> directory_entries(int dir_fd)
{
    std::vector<std::string> names;
    int fd = dup(dir_fd);
    if (fd < 0)
        return names;
    DIR* dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return names;
    }
    rewinddir(dir); // the duplicate shares the offset of an earlier listing
    while (dirent* entry = readdir(dir))
        if (std::string(entry->d_name) != "." && std::string(entry->d_name) != "..")
            names.emplace_back(entry->d_name);
    closedir(dir);
    return names;
}

// Kills every process of the container of `record` and waits until its holder is gone.
bool end_container(const NamedContainerRecord& record) noexcept
{
    if (!named_holder_alive(record))
        return false;
    UniqueFd mnt(open(fmt::format("/proc/{}/ns/mnt", record.pid).c_str(), O_RDONLY | O_CLOEXEC));
    // Checked after opening: the namespace is the holder's, not that of a reused pid.
    if (!mnt.valid() || !named_holder_alive(record))
        return false;
    for (int waited = 0; waited < end_wait_ms && named_holder_alive(record); waited += 10) {
        kill_namespace_members(mnt.get());
        usleep(10 * 1000);
    }
    return true;
}

} // namespace

std::optional<NodeRecords> NodeRecords::of_job(uint32_t job, bool create)
{
    return open(fmt::format("job-{}", job), create);
}

std::optional<NodeRecords> NodeRecords::of_user(uid_t uid, bool create)
{
    return open(fmt::format("user-{}", uid), create);
}

std::optional<NodeRecords> NodeRecords::open(const std::string& dir_name, bool create)
{
    std::string runtime_dir = COCOON_RUNTIME_DIR;
    if (create && mkdir(runtime_dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw_errno(fmt::format("cannot create {}", runtime_dir));
    UniqueFd root(::open(runtime_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root.valid()) {
        if (errno == ENOENT && !create)
            return std::nullopt;
        throw_errno(fmt::format("cannot open {}", runtime_dir));
    }
    struct stat st {};
    if (fstat(root.get(), &st) != 0 || st.st_uid != 0 || (st.st_mode & 077) != 0)
        fail("{} is not root's with mode 0700; ask your admin", runtime_dir);
    for (;;) {
        UniqueFd dir = open_private_dir(root.get(), dir_name, create);
        if (!dir.valid())
            return std::nullopt;
        while (flock(dir.get(), LOCK_EX) != 0)
            if (errno != EINTR)
                throw_errno(fmt::format("cannot lock {}", dir_name));
        // Removed (remove_dead, end_all) while this waited for the lock: open it anew.
        if (fstat(dir.get(), &st) != 0)
            throw_errno(fmt::format("cannot inspect {}", dir_name));
        if (st.st_nlink > 0)
            return NodeRecords(std::move(dir), std::move(root), dir_name);
        if (!create)
            return std::nullopt;
    }
}

std::optional<NamedContainerRecord> NodeRecords::find(const std::string& name)
{
    if (!record_name(name))
        fail("'{}' cannot name a container", printable(name));
    UniqueFd fd(openat(dir_.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
        if (errno == ENOENT)
            return std::nullopt;
        throw_errno(fmt::format("cannot open the record of container '{}'", name));
    }
    auto record = decode_named_record(read_all(fd.get()));
    if (named_holder_alive(record))
        return record;
    unlinkat(dir_.get(), name.c_str(), 0);
    return std::nullopt;
}

void NodeRecords::save(const std::string& name, const NamedContainerRecord& record)
{
    if (!record_name(name))
        fail("'{}' cannot name a container", printable(name));
    // Written aside and renamed: a reader sees the whole record or none. Names never
    // start with '.', so the temporary one cannot be a container's.
    std::string temporary = "." + name;
    UniqueFd fd(openat(dir_.get(), temporary.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid())
        throw_errno(fmt::format("cannot record container '{}'", name));
    write_all(fd.get(), encode_named_record(record));
    fd.reset();
    if (renameat(dir_.get(), temporary.c_str(), dir_.get(), name.c_str()) != 0)
        throw_errno(fmt::format("cannot record container '{}'", name));
}

int NodeRecords::end_all() noexcept
{
    int ended = 0;
    for (const auto& name : entries()) {
        try {
            if (record_name(name)) {
                UniqueFd fd(openat(dir_.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
                if (fd.valid() && end_container(decode_named_record(read_all(fd.get()))))
                    ++ended;
            }
        } catch (const std::exception&) {
            // A record that cannot be read names no process to end; it is removed below.
        }
        unlinkat(dir_.get(), name.c_str(), 0);
    }
    unlinkat(parent_.get(), dir_name_.c_str(), AT_REMOVEDIR);
    return ended;
}

std::vector<std::string> NodeRecords::entries() const
{
    return directory_entries(dir_.get());
}

void NodeRecords::remove_dead() noexcept
{
    bool any_left = false;
    for (const auto& name : entries()) {
        // What save() left when it was killed between writing and renaming: it writes only
        // with the lock, which this process holds.
        if (name.starts_with('.')) {
            unlinkat(dir_.get(), name.c_str(), 0);
            continue;
        }
        try {
            // find() removes a record whose process is gone.
            if (record_name(name) && find(name))
                any_left = true;
        } catch (const std::exception&) {
            any_left = true; // unreadable: left for the job's end or the admin
        }
    }
    if (!any_left)
        unlinkat(parent_.get(), dir_name_.c_str(), AT_REMOVEDIR);
}

void remove_dead_user_records() noexcept
{
    UniqueFd root(open(COCOON_RUNTIME_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root.valid())
        return;
    for (const auto& name : directory_entries(root.get())) {
        unsigned long uid = 0;
        int end = 0;
        if (std::sscanf(name.c_str(), "user-%lu%n", &uid, &end) != 1 ||
            static_cast<size_t>(end) != name.size() || name != fmt::format("user-{}", uid))
            continue;
        try {
            if (auto records = NodeRecords::of_user(static_cast<uid_t>(uid), false))
                records->remove_dead();
        } catch (const std::exception&) {
            // Not root's 0700 directory: not ours to clean.
        }
    }
}

} // namespace cocoon::spank
