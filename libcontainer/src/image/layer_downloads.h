// Downloads the layers of a registry image in a thread of its own, top layer first (the
// order in which the merge reads them), and announces each to arrivals() once its digest
// is verified. The merge and tar2sqfs then work on the upper layers while the lower ones
// download, and an import takes about as long as its longer half instead of both.
//
// Progress goes out from this thread only (Downloading as bytes arrive, Converting once
// the last layer is in); the caller reports nothing until finish().
#pragma once

#include <cstdint>
#include <exception>
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
    // Starts downloading `blobs` (bottom layer first) into files in `work`. `client` is
    // this object's until finish().
    LayerDownloads(RegistryClient& client, const std::vector<BlobRef>& blobs,
                   const std::string& work, const std::string& image,
                   const ImportProgress& progress);
    // Cancels what is left and waits for the thread.
    ~LayerDownloads();
    LayerDownloads(const LayerDownloads&) = delete;
    LayerDownloads& operator=(const LayerDownloads&) = delete;

    // The layers' files, bottom layer first, complete once arrivals() says so.
    const std::vector<Layer>& layers() const { return layers_; }
    LayerArrivals& arrivals() { return arrivals_; }

    // Waits for the thread; throws the error that stopped the downloads (not a cancel).
    void finish();

private:
    void run();

    RegistryClient& client_;
    const std::vector<BlobRef>& blobs_;
    const std::string image_;
    const ImportProgress& progress_;
    std::vector<Layer> layers_;
    LayerArrivals arrivals_;
    std::exception_ptr error_; // written by the thread, read after the join
    std::thread thread_;
};

} // namespace cocoon
