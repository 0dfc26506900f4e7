// Where a node keeps the named containers of a job (--container-name), and their end.
//
// RUNTIME_DIR/job-JOBID/NAME holds the record of one named container (its holder's
// pid and start time, and the environment its first step computed); RUNTIME_DIR/job-JOBID/
// +warm-KEY-MODE-HASH that of an image holder (cocoon/warm_mount.h), which the job's end
// ends the same way. With warm_mount_across_jobs an image holder is the user's, not the
// job's: RUNTIME_DIR/user-UID/+warm-KEY-MODE-HASH, which no job's end ends (the image holder
// exits after its linger time) and whose dead records any job's prolog or epilog removes.
// Every directory and file here is root's, mode 0700/0600: a later step trusts the record
// to pick the process whose namespaces its tasks join, so the user must not be able to
// write it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cocoon/named_container.h"
#include "cocoon/unique_fd.h"

namespace cocoon::spank {

// The records of a job (or of a user's image holders) on this node, locked (flock) while
// this object lives, so that two steps starting at once create one container, and the
// job's end waits for a start. Every method runs as root (the caller raises its effective
// uid).
class NodeRecords {
public:
    // Opens the job's (the user's) directory; with `create`, creates it (and its parents)
    // first. Without, returns nullopt when there is none.
    static std::optional<NodeRecords> of_job(uint32_t job, bool create);
    static std::optional<NodeRecords> of_user(uid_t uid, bool create);

    // The record of container `name` when its holder still runs; a record whose holder is
    // gone is removed.
    std::optional<NamedContainerRecord> find(const std::string& name);

    void save(const std::string& name, const NamedContainerRecord& record);

    // Ends every container of the job (SIGKILL to each process in it), removes the
    // records and the job's directory. Returns how many containers were still running.
    int end_all() noexcept;

    // Removes the records whose process is gone, and the directory when none is left.
    void remove_dead() noexcept;

private:
    static std::optional<NodeRecords> open(const std::string& dir_name, bool create);
    std::vector<std::string> entries() const;
    explicit NodeRecords(UniqueFd dir, UniqueFd parent, std::string dir_name)
        : dir_(std::move(dir))
        , parent_(std::move(parent))
        , dir_name_(std::move(dir_name))
    {}
    UniqueFd dir_;
    UniqueFd parent_;
    std::string dir_name_;
};

// The job prolog and epilog, as root: removes the dead records of every user's image
// holders on this node (warm_mount_across_jobs), and their empty directories.
void remove_dead_user_records() noexcept;

} // namespace cocoon::spank
