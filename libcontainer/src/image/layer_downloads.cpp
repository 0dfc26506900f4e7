#include "layer_downloads.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <numeric>
#include <utility>

#include <fmt/format.h>

#include "cache_lookup.h"
#include "cocoon/error.h"
#include "cocoon/unique_fd.h"

namespace cocoon {

namespace {

// Thrown from the progress callback to stop a transfer nobody needs any more: not an
// Error, so that the client's retries let it through.
struct Stopped {};

} // namespace

LayerDownloads::LayerDownloads(const RegistryClient& client, const std::vector<BlobRef>& blobs,
                               const std::string& work, const std::string& image,
                               const ImportProgress& progress)
    : blobs_(blobs)
    , image_(image)
    , progress_(progress)
    , arrivals_(blobs.size())
    , untaken_(blobs.size())
    , received_(blobs.size(), 0)
{
    for (size_t i = 0; i < blobs.size(); ++i) {
        layers_.push_back({fmt::format("{}/layer{}", work, i), blobs[i].digest});
        total_ += blobs[i].size;
    }
    size_t threads = std::min(parallel_downloads, blobs.size());
    clients_.assign(threads, client); // before any thread starts: they keep references
    try {
        for (auto& thread_client : clients_)
            threads_.emplace_back([this, &thread_client] { run(thread_client); });
    } catch (...) {
        arrivals_.cancel();
        join();
        throw;
    }
}

LayerDownloads::~LayerDownloads()
{
    arrivals_.cancel();
    join();
}

void LayerDownloads::join()
{
    for (auto& thread : threads_)
        if (thread.joinable())
            thread.join();
}

void LayerDownloads::finish()
{
    join();
    if (error_)
        std::rethrow_exception(error_);
}

void LayerDownloads::run(RegistryClient& client)
{
    for (;;) {
        size_t index = 0;
        {
            std::lock_guard lock(mutex_);
            if (untaken_ == 0 || error_ || arrivals_.cancelled())
                return;
            index = --untaken_;
        }
        try {
            download(client, index);
        } catch (const Stopped&) {
            return;
        } catch (const std::exception& e) {
            fail_with(std::current_exception(), e.what());
            return;
        } catch (...) {
            fail_with(std::current_exception(), "a layer download failed");
            return;
        }
    }
}

// The first error stops every download and ends the merge's waits; later ones are dropped.
void LayerDownloads::fail_with(std::exception_ptr error, const std::string& what)
{
    std::lock_guard lock(mutex_);
    if (error_)
        return;
    error_ = std::move(error);
    arrivals_.failed(what);
}

void LayerDownloads::download(RegistryClient& client, size_t index)
{
    const std::string& path = layers_[index].path;
    UniqueFd fd(open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
    if (!fd.valid())
        throw_errno(fmt::format("cannot create {}", path));
    client.get_blob(blobs_[index], fd.get(), [&](uint64_t bytes) { received(index, bytes); });
    std::lock_guard lock(mutex_);
    received_[index] = blobs_[index].size;
    arrivals_.arrived(index);
    if (++arrived_ == blobs_.size())
        report(progress_, {ImportEvent::Phase::Converting, image_, 0, blobs_.size()});
}

// Bytes of layer `index` so far: one progress event for all the downloads together.
void LayerDownloads::received(size_t index, uint64_t bytes)
{
    std::lock_guard lock(mutex_);
    if (error_ || arrivals_.cancelled())
        throw Stopped{};
    received_[index] = bytes;
    uint64_t done = std::accumulate(received_.begin(), received_.end(), uint64_t{0});
    size_t current = std::min(arrived_ + 1, blobs_.size());
    report(progress_,
           {ImportEvent::Phase::Downloading, image_, current, blobs_.size(), done, total_});
}

} // namespace cocoon
