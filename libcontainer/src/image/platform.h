// The platform images are chosen for: an image index names one manifest per platform.
#pragma once

#include <string>

namespace cocoon {

// "amd64", "arm64", ... (OCI architecture names) for the machine this runs on.
std::string node_architecture();

} // namespace cocoon
