// Where a node keeps the named containers of a job (--container-name), and their end.
//
// RUNTIME_DIR/job-JOBID/NAME holds the record of one named container (its holder's
// pid and start time, and the environment its first step computed); RUNTIME_DIR/job-JOBID/
// +warm-KEY-MODE that of an image holder (cocoon/warm_mount.h), which the job's end ends
// the same way. Every directory and
// file here is root's, mode 0700/0600: a later step trusts the record to pick the
// process whose namespaces its tasks join, so the user must not be able to write it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "cocoon/named_container.h"
#include "cocoon/unique_fd.h"

namespace cocoon::spank {

// The job's records on this node, locked (flock) while this object lives, so that two
// steps starting at once create one container, and the job's end waits for a start.
// Every method runs as root (the caller raises its effective uid).
class JobContainers {
public:
    // Opens the job's directory; with `create`, creates it (and its parents) first.
    // Without, returns nullopt when the job has none.
    static std::optional<JobContainers> open(uint32_t job, bool create);

    // The record of container `name` when its holder still runs; a record whose holder is
    // gone is removed.
    std::optional<NamedContainerRecord> find(const std::string& name);

    void save(const std::string& name, const NamedContainerRecord& record);

    // Ends every container of the job (SIGKILL to each process in it), removes the
    // records and the job's directory. Returns how many containers were still running.
    int end_all() noexcept;

private:
    explicit JobContainers(UniqueFd dir, UniqueFd parent, std::string dir_name)
        : dir_(std::move(dir))
        , parent_(std::move(parent))
        , dir_name_(std::move(dir_name))
    {}
    UniqueFd dir_;
    UniqueFd parent_;
    std::string dir_name_;
};

} // namespace cocoon::spank
