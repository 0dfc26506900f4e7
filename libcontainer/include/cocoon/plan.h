// The container's filesystem as data: a list of operations computed from the spec and the
// site config with no system call, so it can be unit-tested and printed (`cocoon run
// --dry-run`). The executor (runtime/rootfs.cpp) turns it into mounts.
#pragma once

#include <string>
#include <vector>

#include "cocoon/config.h"
#include "cocoon/spec.h"

namespace cocoon {

enum class OpKind {
    BindHost, // bind a host path (file or directory) at target
    Tmpfs, // a fresh tmpfs at target
    Symlink, // a symlink at target pointing to source
    GeneratedFile, // a file cocoon writes (source names the generator: passwd, group)
    WriteFile, // a file with `content` (modules' files and program launchers)
    Mqueue, // a new mqueue filesystem (with a private IPC namespace)
};

struct MountOp {
    OpKind kind = OpKind::BindHost;
    std::string target; // absolute path inside the container
    std::string source; // host path, symlink text or generator name
    bool read_only = false;
    bool recursive = false; // bind submounts too
    bool optional = false; // skip when the host source is missing
    bool device = false; // a device node: keep it usable (no nodev)
    std::string options; // tmpfs mount data
    bool noexec = false;
    // Propagation asked for with --container-mounts: "", private, rprivate, slave, rslave.
    std::string propagation;
    std::string content; // WriteFile: the file's content
    bool executable = false; // WriteFile: mode 0755 instead of 0644
    std::string module; // the module this comes from; empty for the base container
};

// A change to the tasks' environment made by a module.
struct EnvironmentChange {
    enum class Kind { Set, Prepend, Pass };
    Kind kind = Kind::Set;
    std::string name;
    std::string value;
    std::string module;
};

// The version of a shared library of an ABI-stable family (modules' abi_check).
struct LibraryVersion {
    // libtool's: soname major, interface age, revision (12.2.2); {12} when only the major is
    // known, empty when nothing is.
    std::vector<unsigned> numbers;
    std::string release; // the implementation's own version ("MPICH 4.0.2"), when known
};

// A library of the image that a module's host library replaces (abi_check: replace),
// checked once the image is mounted: the image's copy, if it has one, must be compatible
// with the host's under `policy`, or the container is refused.
struct LibraryReplacement {
    std::string module;
    std::string image_soname;
    std::string host_soname;
    std::string host_path; // empty: the host has no such library
    LibraryVersion host_version;
    Module::AbiCheck::Policy policy = Module::AbiCheck::Policy::Major;
};

struct Plan {
    std::string image; // what the root filesystem comes from, for display
    std::vector<MountOp> ops;
    std::vector<EnvironmentChange> environment; // from modules, in order
    std::vector<std::string> modules; // the modules applied
    std::vector<std::string> skipped; // optional modules left out, and why
    std::vector<LibraryReplacement> replaced_libraries; // from modules' abi_check
    // A writable root: an overlay over the image whose upper layer is a tmpfs of
    // `writable_size` bytes in the container's mount namespace; else the image read-only.
    bool writable = false;
    uint64_t writable_size = 0;
};

Plan plan_container(const ContainerSpec& spec, const Config& config);

// One operation a line, for admins and for golden tests.
std::string format_plan(const Plan& plan);

// Whether binding `workdir` at the same path would hide a part of the image that the
// container needs (/, /usr, /etc, ...). Such a workdir is not bound.
bool is_system_path(const std::string& path);

} // namespace cocoon
