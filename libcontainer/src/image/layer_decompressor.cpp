#include "layer_decompressor.h"

#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "archive_ptr.h"
#include "cocoon/unique_fd.h"

namespace cocoon {

namespace {

// What the worker hands over at a time.
constexpr size_t chunk_size = size_t{1} << 20;
// The decompressed bytes the merge has not read yet, all layers together. More read-ahead
// only slowed the import down on two CPUs (the chunks fall out of the CPU caches).
constexpr size_t buffer_limit = 4 * chunk_size;
constexpr size_t file_read_size = size_t{256} * 1024;

const char* isal_error(int status)
{
    switch (status) {
    case ISAL_INVALID_BLOCK: return "invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK: return "invalid lookback distance";
    case ISAL_INVALID_WRAPPER: return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM: return "checksum mismatch";
    default: return "decompression failed";
    }
}

bool is_gzip(int fd)
{
    unsigned char magic[2] = {};
    return pread(fd, magic, sizeof(magic), 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

} // namespace

LayerDecompressor::LayerDecompressor(const std::vector<Layer>& layers, LayerArrivals* arrivals)
    : layers_(layers)
    , arrivals_(arrivals)
    , streams_(layers.size())
{
    for (size_t index = 0; index < layers.size(); ++index)
        readers_.push_back({this, index});
    worker_ = std::thread([this] { work(); });
}

LayerDecompressor::~LayerDecompressor()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    if (arrivals_)
        arrivals_->cancel(); // the worker may be waiting for a layer
    worker_.join();
}

int LayerDecompressor::open(archive* reader, size_t index)
{
    return archive_read_open(reader, &readers_[index], nullptr, read_callback, nullptr);
}

void LayerDecompressor::close(size_t index)
{
    {
        std::lock_guard lock(mutex_);
        Stream& stream = streams_[index];
        stream.closed = true;
        for (Chunk& chunk : stream.chunks)
            recycle(chunk);
        stream.chunks.clear();
        recycle(stream.reading);
    }
    changed_.notify_all();
}

la_ssize_t LayerDecompressor::read_callback(archive* a, void* data, const void** buffer)
{
    auto* reader = static_cast<Reader*>(data);
    return reader->decompressor->read(a, reader->index, buffer);
}

la_ssize_t LayerDecompressor::read(archive* a, size_t index, const void** buffer)
{
    std::unique_lock lock(mutex_);
    Stream& stream = streams_[index];
    // libarchive is done with the chunk it had.
    recycle(stream.reading);
    changed_.notify_all();
    changed_.wait(lock, [&] { return !stream.chunks.empty() || stream.ended; });
    if (stream.chunks.empty()) {
        if (stream.error.empty())
            return 0;
        archive_set_error(a, EIO, "%s", stream.error.c_str());
        return ARCHIVE_FATAL;
    }
    stream.reading = std::move(stream.chunks.front());
    stream.chunks.pop_front();
    *buffer = stream.reading.data.get();
    return static_cast<la_ssize_t>(stream.reading.size);
}

// Called with the lock held. The chunk's bytes no longer count as held.
void LayerDecompressor::recycle(Chunk& chunk)
{
    held_ -= chunk.size;
    if (chunk.data)
        spare_.push_back(std::move(chunk.data));
    chunk = {};
}

void LayerDecompressor::work()
{
    for (size_t index = layers_.size(); index-- > 0;) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_)
                return;
        }
        try {
            decompress(index);
        } catch (const std::exception& e) {
            end(index, e.what()); // std::bad_alloc: nothing may escape the thread
        }
    }
}

void LayerDecompressor::decompress(size_t index)
{
    const Layer& layer = layers_[index];
    if (arrivals_ && !arrivals_->wait(index))
        return end(index, "the import stopped");
    UniqueFd fd(::open(layer.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
        return end(index, fmt::format("cannot open {}: {}", layer.path, std::strerror(errno)));
    end(index, is_gzip(fd.get()) ? inflate_gzip(index, fd.get()) : read_raw(index, fd.get()));
}

// One or more gzip members (concatenated ones are one stream, as for gzip -d); bytes after
// the last one that do not start another are ignored, as libarchive and gzip do. Returns
// why it stopped early, or "".
std::string LayerDecompressor::inflate_gzip(size_t index, int fd)
{
    const Layer& layer = layers_[index];
    auto state = std::make_unique<inflate_state>();
    isal_inflate_init(state.get());
    state->crc_flag = ISAL_GZIP;
    auto input = std::make_unique_for_overwrite<uint8_t[]>(file_read_size);
    bool input_ended = false;
    Chunk chunk = take_buffer();
    for (;;) {
        if (state->avail_in == 0 && !input_ended) {
            ssize_t got = ::read(fd, input.get(), file_read_size);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                return fmt::format("cannot read {}: {}", layer.path, std::strerror(errno));
            input_ended = got == 0;
            state->next_in = input.get();
            state->avail_in = static_cast<uint32_t>(got);
        }
        if (state->block_state == ISAL_BLOCK_FINISH) {
            if (state->avail_in == 0 && !input_ended)
                continue; // read on: another member may follow
            if (state->avail_in == 0 || state->next_in[0] != 0x1f)
                break;
            uint8_t* next = state->next_in;
            uint32_t available = state->avail_in;
            isal_inflate_reset(state.get());
            state->crc_flag = ISAL_GZIP;
            state->next_in = next;
            state->avail_in = available;
        }
        if (state->avail_in == 0 && input_ended)
            return "the gzip stream is truncated";
        state->next_out = reinterpret_cast<uint8_t*>(chunk.data.get() + chunk.size);
        state->avail_out = static_cast<uint32_t>(chunk_size - chunk.size);
        int status = isal_inflate(state.get());
        chunk.size = chunk_size - state->avail_out;
        if (status < 0)
            return fmt::format("the gzip stream is corrupt ({})", isal_error(status));
        if (chunk.size == chunk_size) {
            if (!push(index, chunk))
                return "";
            chunk = take_buffer();
        }
    }
    if (chunk.size > 0)
        push(index, chunk);
    return "";
}

// zstd (libarchive's filter), or a layer stored as it is; an empty file is an empty layer.
// Only the compressions OCI layers use: archive_read_support_filter_all would also run
// external decompressors (lrzip, lzop, grzip...) on whatever a registry sends.
std::string LayerDecompressor::read_raw(size_t index, int fd)
{
    const Layer& layer = layers_[index];
    ReadArchive in(archive_read_new());
    if (!in)
        throw std::bad_alloc();
    archive* a = in.get();
    archive_entry* entry = nullptr;
    if (archive_read_support_filter_zstd(a) == ARCHIVE_FATAL ||
        archive_read_support_format_raw(a) != ARCHIVE_OK ||
        archive_read_support_format_empty(a) != ARCHIVE_OK ||
        archive_read_open_fd(a, fd, file_read_size) != ARCHIVE_OK)
        return fmt::format("cannot read {}: {}", layer.path, archive_error(a));
    int status = archive_read_next_header(a, &entry);
    if (status == ARCHIVE_EOF)
        return "";
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN)
        return archive_error(a);
    for (;;) {
        Chunk chunk = take_buffer();
        while (chunk.size < chunk_size) {
            la_ssize_t got =
                archive_read_data(a, chunk.data.get() + chunk.size, chunk_size - chunk.size);
            if (got < 0)
                return archive_error(a);
            if (got == 0)
                break;
            chunk.size += static_cast<size_t>(got);
        }
        if (chunk.size == 0 || !push(index, chunk))
            return "";
    }
}

// A buffer of chunk_size bytes: a spare one, or a new one (left uninitialized: it is
// filled before it is read).
LayerDecompressor::Chunk LayerDecompressor::take_buffer()
{
    std::lock_guard lock(mutex_);
    if (spare_.empty())
        return {std::make_unique_for_overwrite<char[]>(chunk_size), 0};
    Chunk chunk{std::move(spare_.back()), 0};
    spare_.pop_back();
    return chunk;
}

// Waits for room, then queues `chunk`. False: the merge no longer wants this layer.
bool LayerDecompressor::push(size_t index, Chunk& chunk)
{
    std::unique_lock lock(mutex_);
    Stream& stream = streams_[index];
    changed_.wait(lock, [&] { return stopping_ || stream.closed || held_ < buffer_limit; });
    if (stopping_ || stream.closed)
        return false;
    held_ += chunk.size;
    stream.chunks.push_back(std::move(chunk));
    lock.unlock();
    changed_.notify_all();
    return true;
}

void LayerDecompressor::end(size_t index, std::string error)
{
    {
        std::lock_guard lock(mutex_);
        streams_[index].ended = true;
        streams_[index].error = std::move(error);
    }
    changed_.notify_all();
}

} // namespace cocoon
