// Decompresses the layers of an image in a thread of its own, ahead of the merge.
//
// The merge (layers.cpp) reads the layers one after another, top layer first. Reading a
// layer is two jobs: decompressing it, and parsing the tar and writing the merged stream.
// Done in one thread, each waits for the other; here a worker thread decompresses the
// layers in the merge's order into a small buffer (buffer_limit bytes, all layers
// together) that the merge reads from, so the two run on two CPUs. Nothing is written to
// disk. gzip, nearly every registry's layer compression, is inflated with ISA-L's igzip
// (about five times zlib's speed); zstd and uncompressed layers go through libarchive's
// raw format.
//
// The merge reads each layer through archive_read_open() on open(): plain tar bytes, or
// the error that stopped its decompression (the layer's file missing, a corrupt gzip
// stream) as a libarchive error.
#pragma once

#include <archive.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "layer_arrivals.h"
#include "layers.h"

namespace cocoon {

class LayerDecompressor {
public:
    // Starts the worker on layers.back(), the top layer. With `arrivals`, the worker waits
    // for each layer's file to arrive before it reads it.
    explicit LayerDecompressor(const std::vector<Layer>& layers, LayerArrivals* arrivals = nullptr);
    // Stops the worker where it is and waits for it; cancels `arrivals`.
    ~LayerDecompressor();
    LayerDecompressor(const LayerDecompressor&) = delete;
    LayerDecompressor& operator=(const LayerDecompressor&) = delete;

    // Opens layer `index` on `reader` (a new libarchive reader with its formats set), in
    // the worker's order: the last layer first. Returns archive_read_open's status.
    int open(archive* reader, size_t index);
    // The merge is done with layer `index`: its buffers are freed, and the worker leaves
    // it if it is still on it (a tar stream ends before its compressed file does).
    void close(size_t index);

private:
    // Decompressed bytes: `data` holds chunk_size bytes (layer_decompressor.cpp), of which
    // the first `size` are filled.
    struct Chunk {
        std::unique_ptr<char[]> data;
        size_t size = 0;
    };
    struct Stream {
        std::deque<Chunk> chunks; // not yet read
        Chunk reading; // the chunk libarchive holds now
        bool ended = false; // the worker is done: all of it is in chunks
        bool closed = false; // the merge is done with it
        std::string error; // why the worker stopped early, for the merge's message
    };
    struct Reader {
        LayerDecompressor* decompressor;
        size_t index;
    };

    static la_ssize_t read_callback(archive* a, void* data, const void** buffer);
    la_ssize_t read(archive* a, size_t index, const void** buffer);
    void work();
    void decompress(size_t index);
    std::string inflate_gzip(size_t index, int fd);
    std::string read_raw(size_t index, int fd);
    Chunk take_buffer();
    bool push(size_t index, Chunk& chunk);
    void end(size_t index, std::string error);
    void recycle(Chunk& chunk);

    const std::vector<Layer>& layers_;
    LayerArrivals* const arrivals_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Stream> streams_;
    std::vector<Reader> readers_;
    std::vector<std::unique_ptr<char[]>> spare_; // buffers read, for reuse
    size_t held_ = 0; // bytes in all streams' chunks and reading buffers
    bool stopping_ = false;
    std::thread worker_;
};

} // namespace cocoon
