// Downloads the layers of a registry image in threads of their own, top layer first (the
// order in which the merge reads them), and announces each to arrivals() once its digest
// is verified. The merge and tar2sqfs then work on the upper layers while the lower ones
// download, and an import takes about as long as its longer half instead of both. Up to
// parallel_downloads layers come at once, each over its own connection (as docker and
// containerd do): one connection to a registry across a network seldom fills the link.
//
// Progress goes out from these threads only, one event at a time (Downloading as bytes
// arrive, Converting once the last layer is in); the caller reports nothing until finish().
#pragma once

#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cocoon/importer.h"
#include "layer_arrivals.h"
#include "layers.h"
#include "manifest.h"
#include "registry_client.h"

namespace cocoon {

class LayerDownloads {
public:
    static constexpr size_t parallel_downloads = 3;

    // Starts downloading `blobs` (bottom layer first) into files in `work`, each thread
    // with a copy of `client` (and so of its credentials and token).
    LayerDownloads(const RegistryClient& client, const std::vector<BlobRef>& blobs,
                   const std::string& work, const std::string& image,
                   const ImportProgress& progress);
    // Cancels what is left and waits for the threads.
    ~LayerDownloads();
    LayerDownloads(const LayerDownloads&) = delete;
    LayerDownloads& operator=(const LayerDownloads&) = delete;

    // The layers' files, bottom layer first, complete once arrivals() says so.
    const std::vector<Layer>& layers() const { return layers_; }
    LayerArrivals& arrivals() { return arrivals_; }

    // Waits for the threads; throws the error that stopped the downloads (not a cancel).
    void finish();

private:
    void run(RegistryClient& client);
    void download(RegistryClient& client, size_t index);
    void received(size_t index, uint64_t bytes);
    void fail_with(std::exception_ptr error, const std::string& what);
    void join();

    const std::vector<BlobRef>& blobs_;
    const std::string image_;
    const ImportProgress& progress_;
    std::vector<Layer> layers_;
    LayerArrivals arrivals_;
    std::vector<RegistryClient> clients_; // one per thread
    uint64_t total_ = 0; // bytes of all layers, as the manifest declares them

    std::mutex mutex_; // guards what follows, and serializes the progress events
    size_t untaken_; // layers no thread took yet: 0 .. untaken_-1 (taken top-down)
    size_t arrived_ = 0;
    std::vector<uint64_t> received_; // bytes of each layer so far
    std::exception_ptr error_; // the first error

    std::vector<std::thread> threads_;
};

} // namespace cocoon
