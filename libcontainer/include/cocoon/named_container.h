// Named containers (--container-name=NAME[:FLAG]): a container that outlives its step and
// serves the later steps of the same job on the same node, until the job ends.
//
// A named container is a holder process that does not stop at the end of the step that
// created it. Its node keeps a record of it (the holder's pid and start time, and the
// environment the first step computed from the image) in a directory only root can
// change; later steps join the holder's namespaces exactly as the tasks of one step do,
// and the job's end (or the next start of the same job id, after a requeue) ends it.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace cocoon {

struct ContainerName {
    // What happens when the job already has (or lacks) a container of that name on the node.
    enum class Mode {
        Auto, // use it when it exists, else create it from the image (the default)
        Create, // create it from the image; refuse when it exists
        Exec, // use the existing one; refuse when there is none
        NoExec, // use its files, never its private namespaces (--container-unshare)
    };
    std::string name;
    Mode mode = Mode::Auto;
};

// The longest name accepted (it becomes a file name on the node).
inline constexpr size_t max_container_name = 64;

// Parses NAME[:auto|create|exec|no_exec]. A name is 1 to 64 letters, digits, '.', '_' or
// '-', not starting with '.'. Throws Error saying what is wrong and what is accepted.
ContainerName parse_container_name(const std::string& text);

// The spelling of a mode, as typed.
const char* container_name_mode(ContainerName::Mode mode);

using EnvironmentPairs = std::vector<std::pair<std::string, std::string>>;

// What a node remembers of one named container.
struct NamedContainerRecord {
    pid_t pid = 0;
    unsigned long long start_time = 0; // the holder's, from /proc/PID/stat, against pid reuse
    std::string image; // as typed when it was created (for messages)
    EnvironmentPairs image_environment;
    std::string image_workdir;
    EnvironmentPairs module_environment;
    EnvironmentPairs entrypoint_environment;
};

// The record as bytes and back. decode_named_record throws Error on anything malformed.
std::string encode_named_record(const NamedContainerRecord& record);
NamedContainerRecord decode_named_record(const std::string& text);

// The start time of process `pid` (field 22 of /proc/PID/stat, in clock ticks since boot);
// 0 when there is no such process or it has exited (a zombie).
unsigned long long process_start_time(pid_t pid) noexcept;

// Whether the holder of `record` still runs (same pid, same start time).
bool named_holder_alive(const NamedContainerRecord& record) noexcept;

} // namespace cocoon
