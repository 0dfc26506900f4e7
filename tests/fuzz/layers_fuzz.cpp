// The layer merge: tar entry paths (normalised, refused when they leave the root), whiteouts
// and opaque directories, links, over two layers so that whiteouts of the upper one meet
// entries of the lower one. Input: a 2-byte little-endian length N, then the lower layer
// (N bytes), then the upper layer (the rest); each a tar, plain, gzip or zstd.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
#include "fuzz.h"
#include "image/layers.h"

namespace {

cocoon::UniqueFd memory_file(const uint8_t* data, size_t size)
{
    cocoon::UniqueFd fd(memfd_create("layer", MFD_CLOEXEC));
    if (!fd.valid())
        __builtin_trap();
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd.get(), data + done, size - done);
        if (n <= 0)
            __builtin_trap();
        done += static_cast<size_t>(n);
    }
    return fd;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size < 2)
        return 0;
    size_t lower_size = std::min<size_t>(size - 2, data[0] | (size_t{data[1]} << 8));
    cocoon::UniqueFd lower = memory_file(data + 2, lower_size);
    cocoon::UniqueFd upper = memory_file(data + 2 + lower_size, size - 2 - lower_size);
    std::vector<cocoon::Layer> layers = {
        {"/proc/self/fd/" + std::to_string(lower.get()), "sha256:lower"},
        {"/proc/self/fd/" + std::to_string(upper.get()), "sha256:upper"},
    };
    cocoon::UniqueFd out(open("/dev/null", O_WRONLY | O_CLOEXEC));
    try {
        cocoon::merge_layers(layers, out.get());
    } catch (const cocoon::Error&) {
    }
    return 0;
}
