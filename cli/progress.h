// Shows import progress: a bar that redraws itself on a terminal, plain lines otherwise.
#pragma once

#include <chrono>
#include <cstdio>

#include "cocoon/importer.h"

namespace cocoon::cli {

class ProgressDisplay {
public:
    // `verbose`: also say when an image was already cached (cocoon pull); `cocoon run`
    // stays quiet unless an import really happens.
    ProgressDisplay(std::FILE* out, bool verbose);
    void operator()(const ImportEvent& event);

private:
    std::FILE* out_;
    bool terminal_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_line_{};
    ImportEvent::Phase last_phase_ = ImportEvent::Phase::Done;
    bool bar_open_ = false;
    bool verbose_;
    bool importing_ = false;
};

} // namespace cocoon::cli
