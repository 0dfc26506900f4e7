// Pieces of `cocoon check` that its files share: check.cpp (the command, the kernel,
// cocoon.yaml, programs and caches, --image), check_slurm.cpp (the plugstack line and the
// plugin's Slurm release), check_probe.cpp (a container on a zstd probe image).
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cocoon/config.h"
#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/spec.h"

namespace cocoon::cli {

// One line per item: "ok", "FAIL" with the fix on the next line, or "skip" (not checked
// because something it needs failed).
class CheckReport {
public:
    void ok(const std::string& item, const std::string& detail)
    {
        std::printf("ok    %s: %s\n", item.c_str(), printable(detail).c_str());
    }
    void problem(const std::string& item, const std::string& what, const std::string& fix)
    {
        ++failures_;
        std::printf("FAIL  %s: %s\n", item.c_str(), printable(what).c_str());
        if (!fix.empty())
            std::printf("      fix: %s\n", fix.c_str());
    }
    void skip(const std::string& item, const std::string& why)
    {
        std::printf("skip  %s: %s\n", item.c_str(), why.c_str());
    }
    int failures() const { return failures_; }

private:
    int failures_ = 0;
};

std::optional<std::string> read_text(const std::string& path);
std::string trim(const std::string& text);
std::string parent_dir(const std::string& path);

struct ProgramResult {
    int status = -1; // exit status; -1 when it could not run or was killed
    std::string output; // stdout and stderr together
};

// Runs `argv` (argv[0] an absolute path, or a name looked up in the standard directories)
// with stdin from `input` (or /dev/null) and a fixed PATH; returns its status and output.
ProgramResult run_program(const std::vector<std::string>& argv, const std::string& input = "");

// The plugstack item; returns the config= argument of the line that loads the plugin
// (empty when there is none).
std::string check_plugstack(CheckReport& report);

// The "tar2sqfs zstd" and "squashfuse zstd" items: a zstd image written with the importer's
// options, and a container on it (skipped when an item it needs failed).
void check_zstd(CheckReport& report, const Config& config, bool tar2sqfs_ok, bool squashfuse_ok,
                bool kernel_ok);

// As root, with `config`'s tar2sqfs: the probe image in a trusted-cache layout, mounted by
// the plugin's own mount_trusted_squashfs (its checks, a read-only loop device, an idmap
// through a user namespace) and read back. "" when that works, else why not.
std::string probe_kernel_mount(const Config& config);

// Starts a container for `spec` as the calling user, as `cocoon run` does.
Holder start_container(const ContainerSpec& spec, const Config& config);

} // namespace cocoon::cli
