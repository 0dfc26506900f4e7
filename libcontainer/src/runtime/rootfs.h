// The executor of a Plan: assembles the container root filesystem in the calling
// process's new, private mount namespace and makes it the root (pivot_root).
//
// Runs as the job user, with capabilities only inside the container's own user namespace.
// Every path inside the container is resolved with RESOLVE_IN_ROOT, so a symlink in the
// image can never point a mount at the host.
#pragma once

#include "cocoon/image.h"
#include "cocoon/plan.h"
#include "cocoon/spec.h"
#include "cocoon/unique_fd.h"

namespace cocoon {

// `kept_overlay`: with a writable root, a detached overlay the job's image holder kept
// (overlay_pool.h) to use instead of a new one; invalid for a new one.
void assemble_rootfs(const Plan& plan, ImageSource& image, const ContainerSpec& spec,
                     UniqueFd kept_overlay = {});

} // namespace cocoon
