// The container options cocoon adds to srun, sbatch and salloc, and where their values
// come from on the compute node.
#pragma once

#include <optional>
#include <string>
#include <vector>

extern "C" {
#include <slurm/spank.h>
}

#include "cocoon/spec.h"

namespace cocoon::spank {

// What the user asked for: the option's spelling (for messages) and the value.
struct ImageRequest {
    std::string option; // "--container-image" or "--container"
    std::string value;
};

// The image from the environment, as pyxis reads it (cocoon's own name first).
inline constexpr const char* image_variables[] = {"COCOON_CONTAINER_IMAGE",
                                                  "PYXIS_CONTAINER_IMAGE"};

// A variable of the job's environment (not slurmstepd's own); nullopt when unset.
std::optional<std::string> job_env(spank_t sp, const std::string& name);

// Registers cocoon's options with Slurm (every context that parses options).
int register_options(spank_t sp);

// The image requested for this step: --container-image when given, otherwise Slurm's own
// --container (which reaches the job as SLURM_CONTAINER, also inherited by steps of an
// sbatch or salloc job), else COCOON_CONTAINER_IMAGE or PYXIS_CONTAINER_IMAGE.
std::optional<ImageRequest> requested_image(spank_t sp);

// The same on the submit side (srun, sbatch, salloc), from the command's own environment.
std::optional<ImageRequest> submitted_image();

// --container-env=NAME[,NAME...]: variables whose job value wins over the image's.
std::vector<std::string> kept_environment();

// --container-entrypoint: run the image's entrypoint when the container starts.
bool entrypoint_requested();

// --container-modules and --no-container-modules (COCOON_MODULES is read on the node).
ModuleRequest requested_modules();

} // namespace cocoon::spank
