// Tells the user (on srun's stderr, via slurm_spank_log) what an import is doing, so a long first pull does not look like a hung
// job: nothing for imports under a second, then a short line every few seconds.
#pragma once

#include <chrono>

#include "cocoon/importer.h"

namespace cocoon::spank {

class ImportReporter {
public:
    void operator()(const ImportEvent& event);

private:
    using clock = std::chrono::steady_clock;
    clock::time_point start_ = clock::now();
    clock::time_point last_{};
    bool reported_ = false;
};

} // namespace cocoon::spank
