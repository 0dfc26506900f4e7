#include "layer_downloads.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "cache_lookup.h"
#include "cocoon/error.h"
#include "cocoon/unique_fd.h"

namespace cocoon {

namespace {

// Thrown from the progress callback to stop a transfer the merge no longer needs: not an
// Error, so that the client's retries let it through.
struct Cancelled {};

} // namespace

LayerDownloads::LayerDownloads(RegistryClient& client, const std::vector<BlobRef>& blobs,
                               const std::string& work, const std::string& image,
                               const ImportProgress& progress)
    : client_(client)
    , blobs_(blobs)
    , image_(image)
    , progress_(progress)
    , arrivals_(blobs.size())
{
    for (size_t i = 0; i < blobs.size(); ++i)
        layers_.push_back({fmt::format("{}/layer{}", work, i), blobs[i].digest});
    thread_ = std::thread([this] { run(); });
}

LayerDownloads::~LayerDownloads()
{
    arrivals_.cancel();
    if (thread_.joinable())
        thread_.join();
}

void LayerDownloads::finish()
{
    if (thread_.joinable())
        thread_.join();
    if (error_)
        std::rethrow_exception(error_);
}

void LayerDownloads::run()
{
    uint64_t total = 0;
    for (const auto& blob : blobs_)
        total += blob.size;
    uint64_t done = 0;
    try {
        for (size_t i = blobs_.size(); i-- > 0;) {
            const BlobRef& blob = blobs_[i];
            const std::string& path = layers_[i].path;
            UniqueFd fd(open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
            if (!fd.valid())
                throw_errno(fmt::format("cannot create {}", path));
            size_t number = blobs_.size() - i; // in the order of the downloads
            client_.get_blob(blob, fd.get(), [&](uint64_t bytes) {
                if (arrivals_.cancelled())
                    throw Cancelled{};
                report(progress_, {ImportEvent::Phase::Downloading, image_, number, blobs_.size(),
                                   done + bytes, total});
            });
            done += blob.size;
            arrivals_.arrived(i);
        }
        report(progress_, {ImportEvent::Phase::Converting, image_, 0, blobs_.size()});
    } catch (const Cancelled&) {
    } catch (const std::exception& e) {
        error_ = std::current_exception();
        arrivals_.failed(e.what());
    } catch (...) {
        error_ = std::current_exception();
        arrivals_.failed("the download failed");
    }
}

} // namespace cocoon
