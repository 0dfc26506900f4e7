// --container-save=PATH: the files of a running container (its image and what the steps
// changed in its writable root) written to a squashfs file that --container-image=PATH
// mounts later.
#pragma once

#include <functional>
#include <string>

#include "cocoon/config.h"
#include "cocoon/container.h"

namespace cocoon {

// Saves the root of the container whose namespaces are `namespaces` (opened by the caller:
// root in slurmstepd) to `path` (absolute). The work happens in a child process that first
// runs `in_child` (the plugin drops to the job user there), so the file is created and
// written with the user's rights only. The image is written to a temporary file next to
// `path` and renamed over it when complete: an existing file is replaced, and a failure
// leaves nothing behind. Only the root file system is saved: mounts inside the container
// (/proc, /sys, /dev, /tmp, the home directory, --container-mounts) are not. Throws Error
// with the reason when the file could not be written.
void save_container(const NamespaceFds& namespaces, const std::string& path, const Config& config,
                    const std::function<void()>& in_child);

} // namespace cocoon
