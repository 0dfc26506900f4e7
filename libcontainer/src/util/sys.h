// Thin, throwing wrappers over the system calls the runtime needs. Each names what it
// was doing so the error reads well at the top.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "cocoon/unique_fd.h"

namespace cocoon::sys {

// "/proc/self/fd/N": how mount(2) is pointed at an object we hold by descriptor.
std::string fd_path(int fd);
std::string fd_path(int dir_fd, const std::string& name);

// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): symlinks inside the image resolve
// inside the image, never to the host. Returns an invalid fd with errno set on failure.
UniqueFd open_in_root(int root_fd, const std::string& path, int flags);

void mount(const std::string& source, const std::string& target, const char* type,
           unsigned long flags, const std::string& data, const std::string& what);

// Sets mount attributes (MOUNT_ATTR_*) without clearing any, on the mount at fd.
void set_mount_attributes(int fd, unsigned long long attributes, bool recursive,
                          const std::string& what);

void write_file(const std::string& path, const std::string& content);
// Reads to the end; more than `limit` bytes is an Error of kind ErrorKind::TooLarge.
std::string read_file(int fd, size_t limit);

// Reads a regular file of at most `limit` bytes. Returns nullopt when it does not exist;
// throws Error naming `path` when it cannot be read, is not a regular file (a FIFO planted
// there does not hang the caller) or is larger than `limit`.
std::optional<std::string> read_regular_file(const std::string& path, size_t limit);

// The names in directory `dir` (a descriptor held open; "." and ".." left out, nothing
// followed); nullopt when it cannot be listed.
std::optional<std::vector<std::string>> directory_entries(int dir);

// Closes every descriptor >= 3 that is not in `keep`.
void close_fds_except(const std::vector<int>& keep);

// This node's name, for names of work files that other nodes may see.
std::string host_name();

void write_all(int fd, const std::string& data);

// Waits at most `timeout_ms` for `fd` to have input (or its end); false when it has none by
// then (an interrupted wait goes on).
bool wait_readable(int fd, int timeout_ms);

// The CPUs this process may run on, at least 1: its affinity mask, which Slurm narrows to
// the step's cores (std::thread::hardware_concurrency counts the whole node's).
unsigned usable_cpus();

} // namespace cocoon::sys
