// The pyxis-compatible container options (--container-mounts, --container-workdir,
// --[no-]container-mount-home, --[no-]container-remap-root, --no-container-entrypoint,
// --container-writable/--container-readonly, --container-unshare) on srun, sbatch and
// salloc. The table lives in the library (container_options.h); this file only registers
// it with Slurm and records what was typed.
#pragma once

#include "cocoon/container_options.h"

extern "C" {
#include <slurm/spank.h>
}

namespace cocoon::spank {

// Registers every row of container_option_table() (and its negation) that options.cpp
// does not register itself.
int register_container_options(spank_t sp);

// What was typed on the command line, --container-entrypoint included.
TypedOptions typed_container_options();

} // namespace cocoon::spank
