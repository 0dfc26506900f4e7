#include "progress.h"

#include <unistd.h>

#include <string>

#include <fmt/format.h>

namespace cocoon::cli {

namespace {

std::string mib(uint64_t bytes)
{
    return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
}

} // namespace

ProgressDisplay::ProgressDisplay(std::FILE* out, bool verbose)
    : out_(out)
    , terminal_(isatty(fileno(out)) != 0)
    , start_(std::chrono::steady_clock::now())
    , verbose_(verbose)
{}

void ProgressDisplay::operator()(const ImportEvent& event)
{
    using namespace std::chrono;
    auto now = steady_clock::now();
    double seconds = duration<double>(now - start_).count();
    bool quiet =
        !verbose_ && !importing_ && (event.phase == ImportEvent::Phase::Resolving || event.cached);
    if (quiet)
        return;
    if (event.phase == ImportEvent::Phase::Downloading ||
        event.phase == ImportEvent::Phase::Converting)
        importing_ = true;
    if (event.phase == ImportEvent::Phase::Downloading) {
        double rate = seconds > 0 ? static_cast<double>(event.bytes) / seconds : 0;
        std::string line =
            fmt::format("{}: layer {}/{}, {} of {} at {}/s", event.image, event.layer, event.layers,
                        mib(event.bytes), mib(event.total_bytes), mib(static_cast<uint64_t>(rate)));
        if (terminal_) {
            constexpr int width = 30;
            int filled = event.total_bytes
                             ? static_cast<int>(uint64_t{width} * event.bytes / event.total_bytes)
                             : 0;
            std::string bar(static_cast<size_t>(std::min(filled, width)), '#');
            bar.resize(static_cast<size_t>(width), '.');
            std::fprintf(out_, "\r[%s] %s\033[K", bar.c_str(), line.c_str());
            bar_open_ = true;
        } else if (now - last_line_ > std::chrono::seconds(2) || last_phase_ != event.phase) {
            std::fprintf(out_, "%s\n", line.c_str());
            last_line_ = now;
        }
    } else {
        if (bar_open_)
            std::fputc('\n', out_);
        bar_open_ = false;
        switch (event.phase) {
        case ImportEvent::Phase::Resolving:
            std::fprintf(out_, "%s: resolving\n", event.image.c_str());
            break;
        case ImportEvent::Phase::Converting:
            std::fprintf(out_, "%s: writing squashfs from %zu layers\n", event.image.c_str(),
                         event.layers);
            break;
        case ImportEvent::Phase::Done:
            std::fprintf(out_, "%s: %s (%.1f s)\n", event.image.c_str(),
                         event.cached ? "already in the cache" : "imported", seconds);
            break;
        case ImportEvent::Phase::Downloading: break;
        }
    }
    last_phase_ = event.phase;
    std::fflush(out_);
}

} // namespace cocoon::cli
