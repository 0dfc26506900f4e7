// LayerDecompressor: the bytes each layer decompresses to, read as the merge reads them
// (libarchive on open()), here with libarchive's raw format so that any bytes come back.
#include <gtest/gtest.h>

#include <archive.h>
#include <archive_entry.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "image/archive_ptr.h"
#include "image/layer_arrivals.h"
#include "image/layer_decompressor.h"
#include "temp_dir.h"

using cocoon::ArchiveEntry;
using cocoon::Layer;
using cocoon::LayerArrivals;
using cocoon::LayerDecompressor;
using cocoon::ReadArchive;
using cocoon::WriteArchive;

namespace {

void require(bool ok, const std::string& what)
{
    if (!ok)
        throw std::runtime_error("test setup: " + what);
}

enum class Compression { gzip, zstd };

// `data` compressed as one gzip member or zstd frame (libarchive's raw writer).
std::string compress(const std::string& data, Compression compression)
{
    WriteArchive a(archive_write_new());
    require(archive_write_set_format_raw(a.get()) == ARCHIVE_OK, "raw");
    require((compression == Compression::gzip
                 ? archive_write_add_filter_gzip(a.get())
                 : archive_write_add_filter_zstd(a.get())) == ARCHIVE_OK,
            "filter");
    require(archive_write_set_bytes_in_last_block(a.get(), 1) == ARCHIVE_OK, "no padding");
    std::string out(data.size() + 65536, '\0');
    size_t used = 0;
    require(archive_write_open_memory(a.get(), out.data(), out.size(), &used) == ARCHIVE_OK,
            "open");
    ArchiveEntry entry(archive_entry_new());
    archive_entry_set_pathname(entry.get(), "data");
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(data.size()));
    require(archive_write_header(a.get(), entry.get()) == ARCHIVE_OK, "header");
    require(archive_write_data(a.get(), data.data(), data.size()) ==
                static_cast<la_ssize_t>(data.size()),
            "data");
    require(archive_write_close(a.get()) == ARCHIVE_OK, "close");
    out.resize(used);
    return out;
}

// Compressible but not trivially: words from a small vocabulary, in random order.
std::string sample(size_t size, unsigned seed)
{
    static const char* const words[] = {"layer ", "image ", "squashfs ", "merge ", "tar\n",
                                        "gzip ",  "zstd ",  "registry ", "blob ",  "digest "};
    std::mt19937 random(seed);
    std::string text;
    while (text.size() < size)
        text += words[random() % 10];
    text.resize(size);
    return text;
}

class LayerDecompressorTest : public ::testing::Test {
protected:
    // A layer file holding `bytes`.
    Layer layer(const std::string& bytes)
    {
        std::string path = dir_.path() + "/layer" + std::to_string(count_++);
        std::ofstream(path, std::ios::binary) << bytes;
        return {path, "sha256:" + std::to_string(count_)};
    }

    // What layer `index` reads as, or "error: MESSAGE". Layers must be read from the last.
    static std::string read(LayerDecompressor& decompressor, size_t index, size_t limit = SIZE_MAX)
    {
        ReadArchive a(archive_read_new());
        require(archive_read_support_format_raw(a.get()) == ARCHIVE_OK &&
                    archive_read_support_format_empty(a.get()) == ARCHIVE_OK,
                "reader");
        std::string text;
        auto error = [&] { return "error: " + std::string(archive_error_string(a.get())); };
        if (decompressor.open(a.get(), index) != ARCHIVE_OK)
            return error();
        archive_entry* entry = nullptr;
        int status = archive_read_next_header(a.get(), &entry);
        if (status == ARCHIVE_EOF)
            return text;
        if (status != ARCHIVE_OK)
            return error();
        char buffer[65536];
        while (text.size() < limit) {
            la_ssize_t got = archive_read_data(a.get(), buffer, sizeof(buffer));
            if (got < 0)
                return error();
            if (got == 0)
                break;
            text.append(buffer, static_cast<size_t>(got));
        }
        a.reset();
        decompressor.close(index);
        return text;
    }

    cocoon::test::TempDir dir_{"cocoon-decompressor-test"};
    int count_ = 0;
};

TEST_F(LayerDecompressorTest, GzipZstdAndPlainLayersReadAsTheirContent)
{
    // Several MiB each: more than the worker's buffer, so it waits for the reader.
    std::string big = sample(9 << 20, 1), other = sample(5 << 20, 2), plain = sample(3 << 20, 3);
    std::vector<Layer> layers = {layer(plain), layer(compress(other, Compression::zstd)),
                                 layer(compress(big, Compression::gzip))};
    LayerDecompressor decompressor(layers);
    EXPECT_TRUE(read(decompressor, 2) == big);
    EXPECT_TRUE(read(decompressor, 1) == other);
    EXPECT_TRUE(read(decompressor, 0) == plain);
}

TEST_F(LayerDecompressorTest, EmptyFileIsAnEmptyLayer)
{
    std::vector<Layer> layers = {layer(""), layer(compress("", Compression::gzip))};
    LayerDecompressor decompressor(layers);
    EXPECT_EQ(read(decompressor, 1), "");
    EXPECT_EQ(read(decompressor, 0), "");
}

// As gzip -d: concatenated members are one stream (pigz and some registries write them).
TEST_F(LayerDecompressorTest, ConcatenatedGzipMembersAreOneStream)
{
    std::string first = sample(3 << 20, 4), second = sample(100000, 5);
    std::vector<Layer> layers = {
        layer(compress(first, Compression::gzip) + compress(second, Compression::gzip))};
    LayerDecompressor decompressor(layers);
    EXPECT_TRUE(read(decompressor, 0) == first + second);
}

// As libarchive and gzip -d: bytes after the last member that do not start another one
// (zero padding) end the stream.
TEST_F(LayerDecompressorTest, PaddingAfterTheLastGzipMemberIsIgnored)
{
    std::string text = sample(200000, 6);
    std::vector<Layer> layers = {
        layer(compress(text, Compression::gzip) + std::string(4096, '\0'))};
    LayerDecompressor decompressor(layers);
    EXPECT_TRUE(read(decompressor, 0) == text);
}

// gzip(1) writes the file's name into the header, other tools extra fields and comments.
TEST_F(LayerDecompressorTest, GzipHeaderFieldsAreSkipped)
{
    std::string text = sample(300000, 11);
    std::string gzip = compress(text, Compression::gzip);
    ASSERT_EQ(gzip[3], 0) << "libarchive wrote header fields of its own";
    gzip[3] = 0x04 | 0x08 | 0x10; // FEXTRA, FNAME, FCOMMENT
    std::string fields = std::string("\x06\x00", 2) + "ab\x02\x00xy" + "layer.tar" +
                         std::string(1, '\0') + "a comment" + std::string(1, '\0');
    gzip.insert(10, fields);
    std::vector<Layer> layers = {layer(gzip)};
    LayerDecompressor decompressor(layers);
    EXPECT_TRUE(read(decompressor, 0) == text);
}

TEST_F(LayerDecompressorTest, BrokenGzipStreamsAreErrors)
{
    std::string gzip = compress(sample(2 << 20, 7), Compression::gzip);
    std::string truncated = gzip.substr(0, gzip.size() - 100);
    std::string bad_checksum = gzip;
    bad_checksum[bad_checksum.size() - 6] ^= 0x55; // the trailer's CRC-32
    std::string bad_header = gzip;
    bad_header[2] = 7; // compression method: not deflate
    std::vector<Layer> layers = {layer(truncated),
                                 layer(bad_checksum),
                                 layer(bad_header),
                                 {dir_.path() + "/missing", "sha256:missing"}};
    LayerDecompressor decompressor(layers);
    std::string missing = read(decompressor, 3);
    EXPECT_EQ(missing.rfind("error: cannot open " + dir_.path() + "/missing: ", 0), 0u) << missing;
    EXPECT_EQ(read(decompressor, 2),
              "error: the gzip stream is corrupt (unsupported compression method)");
    EXPECT_EQ(read(decompressor, 1), "error: the gzip stream is corrupt (checksum mismatch)");
    EXPECT_EQ(read(decompressor, 0), "error: the gzip stream is truncated");
}

// A tar stream ends before its file does; the merge closes the layer there and goes on.
TEST_F(LayerDecompressorTest, LayerClosedEarlyLetsTheNextOneThrough)
{
    std::string big = sample(20 << 20, 8), below = sample(1 << 20, 9);
    std::vector<Layer> layers = {layer(compress(below, Compression::gzip)),
                                 layer(compress(big, Compression::gzip))};
    LayerDecompressor decompressor(layers);
    EXPECT_TRUE(read(decompressor, 1, 65536) == big.substr(0, 65536));
    EXPECT_TRUE(read(decompressor, 0) == below);
}

// --- layers still downloading (LayerArrivals) ---

// The bottom layer's file is written only after the top layer was read: a worker that
// opened it before its arrival would find nothing there.
TEST_F(LayerDecompressorTest, LayersAreReadOnceTheyArrive)
{
    std::string bottom = dir_.path() + "/arriving";
    std::vector<Layer> layers = {{bottom, "sha256:arriving"},
                                 layer(compress("top", Compression::gzip))};
    LayerArrivals arrivals(layers.size());
    LayerDecompressor decompressor(layers, &arrivals);
    arrivals.arrived(1);
    EXPECT_EQ(read(decompressor, 1), "top");
    std::thread download([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        std::ofstream(bottom) << compress("bottom", Compression::zstd);
        arrivals.arrived(0);
    });
    EXPECT_EQ(read(decompressor, 0), "bottom");
    download.join();
}

TEST_F(LayerDecompressorTest, FailedDownloadIsTheErrorOfTheLayersNotArrived)
{
    std::vector<Layer> layers = {{dir_.path() + "/never", "sha256:never"}, layer("top")};
    LayerArrivals arrivals(layers.size());
    LayerDecompressor decompressor(layers, &arrivals);
    arrivals.arrived(1);
    arrivals.failed("registry example.org answered 404 for blob sha256:never");
    EXPECT_EQ(read(decompressor, 1), "top");
    EXPECT_EQ(read(decompressor, 0),
              "error: registry example.org answered 404 for blob sha256:never");
}

// A merge that stops while the worker waits for a layer: the destructor wakes the worker
// and tells the downloads to stop.
TEST_F(LayerDecompressorTest, StoppingCancelsTheArrivals)
{
    std::vector<Layer> layers = {{dir_.path() + "/never", "sha256:never"}};
    LayerArrivals arrivals(layers.size());
    {
        LayerDecompressor decompressor(layers, &arrivals);
    }
    EXPECT_TRUE(arrivals.cancelled());
    EXPECT_FALSE(arrivals.wait(0));
}

} // namespace
