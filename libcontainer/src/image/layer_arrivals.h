// Which layers' files are complete, for a merge that starts while the layers below are
// still downloading (layer_downloads.h): the downloader announces each layer once its
// digest is verified, the merge's decompressor waits for the layer it needs next. Either
// side can end it: a failed download fails the waits, a merge that stops cancels the
// downloads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cocoon {

class LayerArrivals {
public:
    explicit LayerArrivals(size_t layers);

    // Layer `index` is complete and verified.
    void arrived(size_t index);
    // No further layer will arrive, for `reason`.
    void failed(const std::string& reason);
    // The merge is over or stopped: waits end, and the downloader stops.
    void cancel();
    bool cancelled() const;

    // Blocks until layer `index` has arrived (true) or the merge was cancelled (false).
    // Throws Error(reason) when the downloads failed before it arrived.
    bool wait(size_t index);

private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<bool> arrived_;
    std::optional<std::string> failure_;
    bool cancelled_ = false;
};

} // namespace cocoon
