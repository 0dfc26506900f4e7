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

namespace cocoon {

void assemble_rootfs(const Plan& plan, ImageSource& image, const ContainerSpec& spec);

} // namespace cocoon
