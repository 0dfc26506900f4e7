// A registry image named by tag, for a step on several nodes, is resolved to a digest once,
// by srun, so that all of the step's nodes run one image (a tag that moves while the nodes
// start cannot split the step) and the registry gets one request instead of one per node.
// srun runs `cocoon resolve` just before it launches the step and passes the answer to the
// nodes in the step's environment (COCOON_RESOLVED_IMAGE). A node without an answer for
// its step and image asks the registry itself, as a one-node step always does: there the
// node's own request costs less than srun's extra process.
#pragma once

#include <slurm/spank.h>

#include <functional>
#include <string>

#include "cocoon/reference.h"

namespace cocoon::spank {

// srun, before it launches a step: drops an answer inherited from the environment (an
// earlier step's); then, when the step runs on several nodes, `image` (as typed; empty:
// none) names a registry image by tag and `site_allows()`, resolves it (a few seconds at
// most) and puts the answer into the step's environment. Without one, says why at srun -v
// and leaves the nodes to ask. `config_path`: the plugin's config= argument, empty for the
// default.
void resolve_tag_for_step(spank_t sp, const std::string& image, const std::string& config_path,
                          const std::function<bool()>& site_allows);

// On the node: the digest srun resolved for this very step and image, or empty. Removes
// the variable from the tasks' environment.
std::string step_resolved_digest(spank_t sp, const ImageReference& image,
                                 const std::string& default_registry);

} // namespace cocoon::spank
