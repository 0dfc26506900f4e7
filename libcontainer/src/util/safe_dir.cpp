#include "util/safe_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <ctime>
#include <deque>
#include <vector>

#include "cocoon/error.h"
#include "util/sys.h"

namespace cocoon::sys {

namespace {

constexpr int max_symlinks = 40; // as the kernel's path walk

std::deque<std::string> split_path(const std::string& path)
{
    std::deque<std::string> parts;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string::npos)
            end = path.size();
        if (end > start)
            parts.push_back(path.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

struct stat stat_fd(int fd, const std::string& shown)
{
    struct stat st {};
    if (fstat(fd, &st) != 0)
        throw_errno(fmt::format("cannot inspect {}", shown));
    return st;
}

bool writable_by_others(const struct stat& st)
{
    return (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
}

// A directory above the trusted one: changeable only by root or the owner, or a root-owned
// sticky directory where others may add entries but not replace ours.
void check_ancestor(const struct stat& st, const std::string& component, const DirRule& rule,
                    const std::string& path)
{
    if (st.st_uid != 0 && st.st_uid != rule.owner)
        fail("refusing {} {}: {} is owned by uid {}, so that user could replace what is "
             "below it (only root or uid {} may own it)",
             rule.what, path, component, st.st_uid, rule.owner);
    bool sticky_root = (st.st_mode & S_ISVTX) != 0 && st.st_uid == 0;
    if (writable_by_others(st) && !sticky_root)
        fail("refusing {} {}: {} is writable by its group or others (mode {:04o}) and not a "
             "root-owned sticky directory like /tmp",
             rule.what, path, component, st.st_mode & 07777);
}

void check_final(const struct stat& st, const DirRule& rule, const std::string& path)
{
    if (!S_ISDIR(st.st_mode))
        fail("refusing {} {}: it is not a directory", rule.what, path);
    if (st.st_uid != rule.owner && !(rule.root_may_own && st.st_uid == 0))
        fail("refusing {} {}: it is owned by uid {}, not {}uid {} (another user may have "
             "created it: remove it, or choose another directory)",
             rule.what, path, st.st_uid, rule.root_may_own && rule.owner != 0 ? "root or " : "",
             rule.owner);
    if (writable_by_others(st))
        fail("refusing {} {}: it is writable by its group or others (mode {:04o}): "
             "run chmod go-w on it",
             rule.what, path, st.st_mode & 07777);
}

UniqueFd open_directory(int parent, const std::string& name, int flags)
{
    return UniqueFd(openat(parent, name.c_str(), flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

std::string read_link(int link_fd, const std::string& shown)
{
    char target[PATH_MAX];
    ssize_t n = readlinkat(link_fd, "", target, sizeof(target) - 1);
    if (n < 0)
        throw_errno(fmt::format("cannot read the symbolic link {}", shown));
    return std::string(target, static_cast<size_t>(n));
}

} // namespace

UniqueFd open_trusted_dir(const std::string& path, const DirRule& rule)
{
    if (!path.starts_with('/'))
        fail("{} '{}' is not an absolute path", rule.what, path);
    // The physical chain of directories walked so far; '..' steps back along it.
    std::vector<UniqueFd> chain;
    chain.emplace_back(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!chain.back().valid())
        throw_errno("cannot open /");
    check_ancestor(stat_fd(chain.back().get(), "/"), "/", rule, path);

    std::deque<std::string> parts = split_path(path);
    std::string walked;
    int symlinks = 0;
    while (!parts.empty()) {
        std::string name = parts.front();
        parts.pop_front();
        if (name == ".")
            continue;
        if (name == "..") {
            if (chain.size() > 1)
                chain.pop_back();
            continue;
        }
        walked += "/" + name;
        bool last = parts.empty();
        int parent = chain.back().get();
        UniqueFd fd(openat(parent, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!fd.valid() && errno == ENOENT && rule.create) {
            if (mkdirat(parent, name.c_str(), rule.mode) != 0 && errno != EEXIST)
                throw_errno(fmt::format("cannot create {} {}", rule.what, walked));
            fd = UniqueFd(openat(parent, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        }
        if (!fd.valid())
            throw_errno(fmt::format("cannot open {} {}", rule.what, walked));
        struct stat st = stat_fd(fd.get(), walked);
        if (S_ISLNK(st.st_mode)) {
            if (last && !rule.follow_final_link)
                fail("refusing {} {}: it is a symbolic link; give the directory it points to",
                     rule.what, path);
            if (st.st_uid != 0 && st.st_uid != rule.owner)
                fail("refusing {} {}: the symbolic link {} is owned by uid {} (only root or "
                     "uid {} may own one on the way)",
                     rule.what, path, walked, st.st_uid, rule.owner);
            if (++symlinks > max_symlinks)
                fail("refusing {} {}: too many symbolic links", rule.what, path);
            std::string target = read_link(fd.get(), walked);
            auto target_parts = split_path(target);
            parts.insert(parts.begin(), target_parts.begin(), target_parts.end());
            if (target.starts_with('/'))
                chain.resize(1);
            continue;
        }
        if (last) {
            // Reopened for reading: O_PATH descriptors cannot list or fsync.
            UniqueFd dir = open_directory(parent, name, O_RDONLY);
            if (!dir.valid())
                throw_errno(fmt::format("cannot open {} {}", rule.what, path));
            struct stat opened = stat_fd(dir.get(), path);
            if (opened.st_dev != st.st_dev || opened.st_ino != st.st_ino)
                fail("refusing {} {}: it changed while it was being opened", rule.what, path);
            check_final(opened, rule, path);
            return dir;
        }
        if (!S_ISDIR(st.st_mode))
            fail("{} {}: {} is not a directory", rule.what, path, walked);
        check_ancestor(st, walked, rule, path);
        chain.push_back(std::move(fd));
    }
    // The path named / itself (or only dots): the root directory is the directory.
    UniqueFd dir(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    check_final(stat_fd(dir.get(), "/"), rule, path);
    return dir;
}

UniqueFd open_trusted_subdir(int parent, const std::string& parent_path, const std::string& name,
                             const DirRule& rule)
{
    std::string shown = parent_path + "/" + name;
    UniqueFd dir = open_directory(parent, name, O_RDONLY);
    if (!dir.valid() && errno == ENOENT && rule.create) {
        if (mkdirat(parent, name.c_str(), rule.mode) != 0 && errno != EEXIST)
            throw_errno(fmt::format("cannot create {}", shown));
        dir = open_directory(parent, name, O_RDONLY);
    }
    if (!dir.valid()) {
        if (errno == ELOOP || errno == ENOTDIR)
            fail("refusing {} {}: {} is a symbolic link or not a directory", rule.what, parent_path,
                 shown);
        throw_errno(fmt::format("cannot open {}", shown));
    }
    check_final(stat_fd(dir.get(), shown), rule, shown);
    return dir;
}

namespace {

UniqueFd open_trusted_program(const std::string& path, const char* what, int links)
{
    auto slash = path.rfind('/');
    if (!path.starts_with('/') || slash + 1 == path.size())
        fail("{} '{}' is not an absolute path to a program", what, path);
    DirRule rule;
    rule.owner = getuid(); // root in slurmstepd, whose effective uid may be the user's
    rule.root_may_own = true;
    rule.follow_final_link = true; // /bin -> usr/bin
    std::string dir_what = fmt::format("the directory of {}", what);
    rule.what = dir_what.c_str();
    UniqueFd dir = open_trusted_dir(slash == 0 ? "/" : path.substr(0, slash), rule);
    UniqueFd program(openat(dir.get(), path.c_str() + slash + 1, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!program.valid() || fstat(program.get(), &st) != 0)
        throw_errno(fmt::format("cannot open {} {}", what, path));
    if (S_ISLNK(st.st_mode)) {
        // /usr/bin/x -> ../lib/...: a link in a trusted directory was made by root or the
        // owner; its target is checked the same way.
        if (links >= max_symlinks)
            fail("refusing {} {}: too many symbolic links", what, path);
        std::string target = read_link(program.get(), path);
        if (!target.starts_with('/'))
            target = path.substr(0, slash + 1) + target;
        return open_trusted_program(target, what, links + 1);
    }
    if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != rule.owner) ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        fail("refusing {} {}: it must be a regular file owned by root and writable only by "
             "its owner",
             what, path);
    return program;
}

} // namespace

UniqueFd open_trusted_program(const std::string& path, const char* what)
{
    return open_trusted_program(path, what, 0);
}

void write_file_atomically(int dir, const std::string& name, const std::string& content,
                           mode_t mode, const std::string& shown)
{
    std::string temporary = fmt::format("{}.tmp.{}", name, getpid());
    // Read and write, as its exclusive flock (below) needs on NFS (nothing is read).
    int flags = O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC;
    UniqueFd fd(openat(dir, temporary.c_str(), flags, mode));
    if (!fd.valid() && errno == EEXIST) {
        // Left by a killed process that had our pid: it is ours to replace.
        unlinkat(dir, temporary.c_str(), 0);
        fd = UniqueFd(openat(dir, temporary.c_str(), flags, mode));
    }
    if (!fd.valid())
        throw_errno(fmt::format("cannot write {}", shown));
    // Locked until the rename (closing releases it, also when we are killed): a temporary
    // that nobody holds locked was left by a dead writer, whatever host it ran on.
    flock(fd.get(), LOCK_EX | LOCK_NB);
    try {
        write_all(fd.get(), content);
        if (fsync(fd.get()) != 0)
            throw_errno("fsync");
        if (renameat(dir, temporary.c_str(), dir, name.c_str()) != 0)
            throw_errno("rename");
    } catch (const Error& e) {
        unlinkat(dir, temporary.c_str(), 0);
        throw e.wrap(fmt::format("cannot write {}", shown));
    }
}

bool is_dead_temporary(int dir, const std::string& name, time_t settle)
{
    // Opened for writing, as an exclusive flock on NFS needs (nothing is written).
    UniqueFd fd(openat(dir, name.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st {};
    if (!fd.valid() || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    constexpr time_t unlockable_age = 60;
    // Whole seconds since the last write, against the precise clock: the kernel may stamp
    // a file finer than time(2)'s coarse clock, up to a tick ahead of it.
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    time_t age = now.tv_sec - st.st_mtim.tv_sec - (now.tv_nsec < st.st_mtim.tv_nsec ? 1 : 0);
    if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
        return errno != EWOULDBLOCK && age >= unlockable_age;
    // Unlocked now; the name must still be this file (the writer may have renamed it).
    struct stat named {};
    return age >= settle && fstatat(dir, name.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
           named.st_ino == st.st_ino && named.st_dev == st.st_dev;
}

void remove_dead_temporaries(int dir, const std::function<bool(const std::string&)>& is_temporary,
                             time_t settle)
{
    for (const auto& name : directory_entries(dir).value_or(std::vector<std::string>{}))
        if (is_temporary(name) && is_dead_temporary(dir, name, settle))
            unlinkat(dir, name.c_str(), 0);
}

void remove_tree(int dir, const std::string& name) noexcept
{
    UniqueFd fd = open_directory(dir, name, O_RDONLY);
    if (!fd.valid()) {
        unlinkat(dir, name.c_str(), 0);
        return;
    }
    for (const auto& child : directory_entries(fd.get()).value_or(std::vector<std::string>{}))
        if (unlinkat(fd.get(), child.c_str(), 0) != 0)
            remove_tree(fd.get(), child);
    unlinkat(dir, name.c_str(), AT_REMOVEDIR);
}

} // namespace cocoon::sys
