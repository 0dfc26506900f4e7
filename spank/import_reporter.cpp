#include "import_reporter.h"

#include <fmt/format.h>

extern "C" {
#include <slurm/spank.h>
}

namespace cocoon::spank {

namespace {

double mib(uint64_t bytes)
{
    return static_cast<double>(bytes) / (1 << 20);
}

} // namespace

void ImportReporter::operator()(const ImportEvent& event)
{
    auto now = clock::now();
    double elapsed = std::chrono::duration<double>(now - start_).count();
    if (event.phase == ImportEvent::Phase::Done) {
        if (reported_ || elapsed >= 1.0)
            slurm_spank_log("cocoon: %s %s in %.1f s", event.image.c_str(),
                            event.cached ? "found in the cache" : "imported", elapsed);
        return;
    }
    if (elapsed < 1.0 || now - last_ < std::chrono::seconds(3))
        return;
    std::string line;
    if (event.phase == ImportEvent::Phase::Downloading)
        line = fmt::format("cocoon: importing {}: layer {}/{}, {:.1f} of {:.1f} MiB", event.image,
                           event.layer, event.layers, mib(event.bytes), mib(event.total_bytes));
    else if (event.phase == ImportEvent::Phase::Converting)
        line =
            fmt::format("cocoon: importing {}: writing squashfs ({:.0f} s)", event.image, elapsed);
    else
        line = fmt::format("cocoon: importing {}", event.image);
    slurm_spank_log("%s", line.c_str());
    last_ = now;
    reported_ = true;
}

} // namespace cocoon::spank
