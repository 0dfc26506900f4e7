#include <gtest/gtest.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <compare>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
#include "image/archive_ptr.h"
#include "image/layers.h"
#include "temp_dir.h"

using cocoon::ArchiveEntry;
using cocoon::Layer;
using cocoon::ReadArchive;
using cocoon::UniqueFd;
using cocoon::WriteArchive;

namespace {

// One entry of a test layer. `data` is a file's content or a symlink's target.
struct In {
    std::string name;
    unsigned type = AE_IFREG;
    unsigned perm = 0644;
    std::string data;
    std::string hardlink;
    std::vector<std::pair<std::string, std::string>> xattrs;
};

In file(std::string name, std::string data = "", unsigned perm = 0644)
{
    return {std::move(name), AE_IFREG, perm, std::move(data), {}, {}};
}

In dir(std::string name, unsigned perm = 0755)
{
    return {std::move(name), AE_IFDIR, perm, {}, {}, {}};
}

In symlink(std::string name, std::string target)
{
    return {std::move(name), AE_IFLNK, 0777, std::move(target), {}, {}};
}

In hardlink(std::string name, std::string target)
{
    return {std::move(name), AE_IFREG, 0644, {}, std::move(target), {}};
}

In special(std::string name, unsigned type)
{
    return {std::move(name), type, 0666, {}, {}, {}};
}

// One entry of the merged stream, read back. type: f d l h (hardlink) c b p s.
struct Out {
    std::string path;
    char type;
    unsigned perm;
    std::string data; // content, symlink or hardlink target
    std::string xattrs = {}; // "name=value;" each
    auto operator<=>(const Out&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Out& out)
{
    os << "{" << out.path << " " << out.type << " 0" << std::oct << out.perm << std::dec << " '"
       << out.data << "'";
    if (!out.xattrs.empty())
        os << " xattrs " << out.xattrs;
    return os << "}";
}

enum class Compression { none, gzip, zstd };

void require(bool ok, const std::string& what)
{
    if (!ok)
        throw std::runtime_error("test setup: " + what);
}

void add_entry(archive* a, const In& in)
{
    ArchiveEntry entry(archive_entry_new());
    archive_entry_copy_pathname(entry.get(), in.name.c_str());
    archive_entry_set_filetype(entry.get(), in.type);
    archive_entry_set_perm(entry.get(), in.perm);
    archive_entry_set_mtime(entry.get(), 1700000000, 0);
    archive_entry_set_size(entry.get(), 0);
    if (!in.hardlink.empty())
        archive_entry_copy_hardlink(entry.get(), in.hardlink.c_str());
    else if (in.type == AE_IFREG)
        archive_entry_set_size(entry.get(), static_cast<la_int64_t>(in.data.size()));
    else if (in.type == AE_IFLNK)
        archive_entry_copy_symlink(entry.get(), in.data.c_str());
    else if (in.type == AE_IFCHR || in.type == AE_IFBLK)
        archive_entry_set_rdev(entry.get(), makedev(1, 1));
    for (const auto& [name, value] : in.xattrs)
        archive_entry_xattr_add_entry(entry.get(), name.c_str(), value.data(), value.size());
    require(archive_write_header(a, entry.get()) == ARCHIVE_OK, "writing " + in.name);
    if (in.type == AE_IFREG && in.hardlink.empty() && !in.data.empty())
        require(archive_write_data(a, in.data.data(), in.data.size()) ==
                    static_cast<la_ssize_t>(in.data.size()),
                "writing data");
}

// Layers from registries hold UTF-8 names in pax records, as a writer in a UTF-8 locale
// makes them; the code under test runs in the C locale of the test, as in slurmstepd.
class Utf8Locale {
public:
    Utf8Locale()
        : locale_(newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr))
    {
        require(locale_ != nullptr, "C.UTF-8 locale");
        saved_ = uselocale(locale_);
    }
    ~Utf8Locale()
    {
        uselocale(saved_);
        freelocale(locale_);
    }
    Utf8Locale(const Utf8Locale&) = delete;
    Utf8Locale& operator=(const Utf8Locale&) = delete;

private:
    locale_t locale_;
    locale_t saved_;
};

void write_layer(const std::string& path, const std::vector<In>& entries, Compression compression)
{
    Utf8Locale utf8;
    WriteArchive a(archive_write_new());
    require(archive_write_set_format_pax_restricted(a.get()) == ARCHIVE_OK, "pax");
    if (compression == Compression::gzip)
        require(archive_write_add_filter_gzip(a.get()) == ARCHIVE_OK, "gzip");
    if (compression == Compression::zstd)
        require(archive_write_add_filter_zstd(a.get()) == ARCHIVE_OK, "zstd");
    require(archive_write_open_filename(a.get(), path.c_str()) == ARCHIVE_OK, path);
    for (const In& in : entries)
        add_entry(a.get(), in);
    require(archive_write_close(a.get()) == ARCHIVE_OK, "closing " + path);
}

char type_char(archive_entry* entry)
{
    if (archive_entry_hardlink(entry))
        return 'h';
    switch (archive_entry_filetype(entry)) {
    case AE_IFREG: return 'f';
    case AE_IFDIR: return 'd';
    case AE_IFLNK: return 'l';
    case AE_IFCHR: return 'c';
    case AE_IFBLK: return 'b';
    case AE_IFIFO: return 'p';
    default: return 's';
    }
}

// Sorted by name, each once: libarchive 3.6 writes every xattr as both a LIBARCHIVE.xattr
// and a SCHILY.xattr record and reads both back.
std::string xattrs_of(archive_entry* entry)
{
    std::map<std::string, std::string> unique;
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    archive_entry_xattr_reset(entry);
    while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK)
        unique.emplace(name, std::string(static_cast<const char*>(value), size));
    std::string xattrs;
    for (const auto& [key, text] : unique)
        xattrs += key + "=" + text + ";";
    return xattrs;
}

// The merged stream as a sorted list; a path written twice shows up twice.
std::vector<Out> read_tar(const std::string& path)
{
    ReadArchive a(archive_read_new());
    archive_read_support_format_tar(a.get());
    require(archive_read_open_filename(a.get(), path.c_str(), 65536) == ARCHIVE_OK,
            "reading back " + path);
    std::vector<Out> result;
    archive_entry* entry = nullptr;
    while (archive_read_next_header(a.get(), &entry) == ARCHIVE_OK) {
        std::string name = archive_entry_pathname(entry);
        if (name.size() > 1 && name.back() == '/')
            name.pop_back();
        Out out{name, type_char(entry), archive_entry_perm(entry), {}, xattrs_of(entry)};
        if (out.type == 'h')
            out.data = archive_entry_hardlink(entry);
        else if (out.type == 'l')
            out.data = archive_entry_symlink(entry);
        else if (out.type == 'f') {
            char buffer[65536];
            la_ssize_t n;
            while ((n = archive_read_data(a.get(), buffer, sizeof(buffer))) > 0)
                out.data.append(buffer, static_cast<size_t>(n));
            require(n == 0, "reading back data");
        }
        result.push_back(std::move(out));
    }
    std::sort(result.begin(), result.end());
    return result;
}

std::string slurp(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

using cocoon::test::TempDir;

using Contents = std::vector<std::vector<In>>; // bottom layer first

class LayersTest : public ::testing::Test {
protected:
    // Layer i is "<dir>/layer<i>.tar" with digest "sha256:layer<i>".
    std::vector<Layer> make_layers(const Contents& contents,
                                   Compression compression = Compression::none)
    {
        std::vector<Layer> layers;
        for (size_t i = 0; i < contents.size(); ++i) {
            std::string path = dir_.path() + "/layer" + std::to_string(i) + ".tar";
            write_layer(path, contents[i], compression);
            layers.push_back({path, "sha256:layer" + std::to_string(i)});
        }
        return layers;
    }

    std::string merge(const std::vector<Layer>& layers)
    {
        std::string out = dir_.path() + "/merged.tar";
        UniqueFd fd(open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        require(fd.valid(), "creating " + out);
        cocoon::merge_layers(layers, fd.get(), limits_);
        return out;
    }

    std::vector<Out> merged(const Contents& contents, Compression compression = Compression::none)
    {
        return read_tar(merge(make_layers(contents, compression)));
    }

    // The error merging gives, "" when it succeeds.
    std::string merge_error(const Contents& contents)
    {
        try {
            merge(make_layers(contents));
        } catch (const cocoon::Error& error) {
            return error.what();
        }
        return "";
    }

    TempDir dir_{"cocoon-layers-test"};
    cocoon::LayerLimits limits_ = cocoon::layer_limits(cocoon::default_config());
};

std::vector<Out> sorted(std::vector<Out> list)
{
    std::sort(list.begin(), list.end());
    return list;
}

#define EXPECT_CONTAINS(text, part)                                                                \
    EXPECT_NE(std::string(text).find(part), std::string::npos)                                     \
        << "expected '" << (part) << "' in: " << (text)

TEST_F(LayersTest, UpperLayerOverridesFilesAndDirectoryAttributes)
{
    auto result = merged({
        {dir("etc"), file("etc/a", "old"), file("etc/b", "b")},
        {dir("etc", 0700), file("etc/a", "new", 0600)},
    });
    EXPECT_EQ(result, sorted({
                          {"etc", 'd', 0700, ""},
                          {"etc/a", 'f', 0600, "new"},
                          {"etc/b", 'f', 0644, "b"},
                      }));
}

TEST_F(LayersTest, ParentOnlyImpliedAboveTakesTheLowerDirectoryEntry)
{
    auto result = merged({{dir("opt", 0750), file("opt/old")}, {file("opt/new")}});
    EXPECT_EQ(result, sorted({
                          {"opt", 'd', 0750, ""},
                          {"opt/new", 'f', 0644, ""},
                          {"opt/old", 'f', 0644, ""},
                      }));
}

TEST_F(LayersTest, EntryNamesAreNormalized)
{
    auto result = merged({{file("./a//b/./c", "lower")}, {file("a/b/c", "upper")}});
    EXPECT_EQ(result, sorted({{"a/b/c", 'f', 0644, "upper"}}));
}

TEST_F(LayersTest, WhiteoutHidesALowerFile)
{
    auto result = merged({{dir("a"), file("a/x"), file("a/y")}, {dir("a"), file("a/.wh.x")}});
    EXPECT_EQ(result, sorted({{"a", 'd', 0755, ""}, {"a/y", 'f', 0644, ""}}));
}

TEST_F(LayersTest, WhiteoutHidesALowerDirectoryAndItsChildren)
{
    auto result = merged({
        {dir("d"), dir("d/sub"), file("d/sub/f"), file("d/g"), file("e")},
        {file(".wh.d")},
    });
    EXPECT_EQ(result, sorted({{"e", 'f', 0644, ""}}));
}

TEST_F(LayersTest, WhiteoutThenNewDirectoryReplacesIt)
{
    auto result = merged({
        {dir("d"), file("d/old")},
        {file(".wh.d"), dir("d", 0700), file("d/new")},
    });
    EXPECT_EQ(result, sorted({{"d", 'd', 0700, ""}, {"d/new", 'f', 0644, ""}}));
}

TEST_F(LayersTest, WhiteoutHidesOnlyThatPathNotTheNameElsewhere)
{
    // fuse-overlayfs #151: "/.wh.test" hid every "test" in every directory.
    auto result = merged({{file("test"), file("a/test")}, {file(".wh.test")}});
    EXPECT_EQ(result, sorted({{"a/test", 'f', 0644, ""}}));
}

TEST_F(LayersTest, WhiteoutsAcrossSeveralLayers)
{
    auto result = merged({
        {file("a"), file("b"), file("c")},
        {file(".wh.a"), file("b", "mid")},
        {file(".wh.b"), file("a", "top")},
    });
    EXPECT_EQ(result, sorted({{"a", 'f', 0644, "top"}, {"c", 'f', 0644, ""}}));
}

TEST_F(LayersTest, OpaqueDirectoryHidesLowerChildrenKeepsItsOwn)
{
    auto lower =
        std::vector<In>{dir("d"), file("d/old"), dir("d/sub"), file("d/sub/f"), file("other")};
    auto expected = sorted({
        {"d", 'd', 0700, ""},
        {"d/new", 'f', 0644, ""},
        {"other", 'f', 0644, ""},
    });
    EXPECT_EQ(merged({lower, {dir("d", 0700), file("d/.wh..wh..opq"), file("d/new")}}), expected);
    // The marker acts on lower layers whatever its place in its own layer.
    EXPECT_EQ(merged({lower, {dir("d", 0700), file("d/new"), file("d/.wh..wh..opq")}}), expected);
}

TEST_F(LayersTest, OpaqueDirectoryWithoutItsOwnEntryStaysInTheImage)
{
    auto result = merged({{dir("d", 0700), file("d/old")}, {file("d/.wh..wh..opq")}});
    EXPECT_EQ(result, sorted({{"d", 'd', 0755, ""}}));
}

TEST_F(LayersTest, OpaqueRootHidesEveryLowerLayer)
{
    auto result = merged({{file("a"), dir("b")}, {file(".wh..wh..opq"), file("c")}});
    EXPECT_EQ(result, sorted({{"c", 'f', 0644, ""}}));
}

TEST_F(LayersTest, WhiteoutInTheBottomLayerHasNoEffect)
{
    auto result =
        merged({{file(".wh.a"), file("a"), file("d/.wh..wh..opq"), file("d/x")}, {file("b")}});
    EXPECT_EQ(result, sorted({
                          {"a", 'f', 0644, ""},
                          {"b", 'f', 0644, ""},
                          {"d/x", 'f', 0644, ""},
                      }));
}

TEST_F(LayersTest, WhiteoutDoesNotHideTheSameNameInItsOwnLayer)
{
    EXPECT_EQ(merged({{file("f", "old")}, {file(".wh.f"), file("f", "new")}}),
              sorted({{"f", 'f', 0644, "new"}}));
    EXPECT_EQ(merged({{file("f", "old")}, {file("f", "new"), file(".wh.f")}}),
              sorted({{"f", 'f', 0644, "new"}}));
}

TEST_F(LayersTest, WhiteoutOfAMissingFileHasNoEffect)
{
    auto result = merged({{file("a")}, {file(".wh.nothere"), file("x/.wh.y")}});
    EXPECT_EQ(result, sorted({{"a", 'f', 0644, ""}}));
}

TEST_F(LayersTest, WhiteoutOfDotDotIsRefused)
{
    auto error = merge_error({{file("a/b")}, {file("a/.wh...")}});
    EXPECT_CONTAINS(error, "layer sha256:layer1: entry 'a/.wh...'");
}

TEST_F(LayersTest, HardlinksAreKept)
{
    auto result = merged({
        {file("bin/tool", "t"), hardlink("bin/alias", "bin/tool")},
        {hardlink("./up", "./bin/tool"), hardlink("before", "later"), file("later", "l")},
    });
    EXPECT_EQ(result, sorted({
                          {"before", 'h', 0644, "later"},
                          {"bin/alias", 'h', 0644, "bin/tool"},
                          {"bin/tool", 'f', 0644, "t"},
                          {"later", 'f', 0644, "l"},
                          {"up", 'h', 0644, "bin/tool"},
                      }));
}

TEST_F(LayersTest, HardlinkToASymlinkIsKept)
{
    auto result = merged({{symlink("s1", "/etc/shadow"), hardlink("s2", "s1")}});
    EXPECT_EQ(result, sorted({{"s1", 'l', 0777, "/etc/shadow"}, {"s2", 'h', 0644, "s1"}}));
}

TEST_F(LayersTest, HardlinkEscapingTheRootIsRefused)
{
    for (std::string target : {"../../../../etc/shadow", "/etc/shadow", "a/../../x"}) {
        auto error = merge_error({{file("a/f"), hardlink("loot", target)}});
        EXPECT_CONTAINS(error, "layer sha256:layer0: entry 'loot': hardlink target '" + target +
                                   "' escapes the image root");
    }
}

TEST_F(LayersTest, HardlinkWhoseTargetIsGoneIsRefused)
{
    auto deleted = merge_error({{file("f"), hardlink("h", "f")}, {file(".wh.f")}});
    EXPECT_CONTAINS(deleted, "layer sha256:layer0: hardlink 'h' -> 'f'");
    EXPECT_CONTAINS(deleted, "not in the image");
    auto replaced = merge_error({{file("f", "old"), hardlink("h", "f")}, {file("f", "new")}});
    EXPECT_CONTAINS(replaced, "layer sha256:layer0: hardlink 'h' -> 'f'");
    EXPECT_CONTAINS(replaced, "upper layer replaced");
    EXPECT_CONTAINS(merge_error({{hardlink("h", "nothere")}}), "not in the image");
}

TEST_F(LayersTest, HardlinkToADirectoryOrItselfOrALoopIsRefused)
{
    EXPECT_CONTAINS(merge_error({{dir("d"), hardlink("h", "d")}}), "is a directory");
    EXPECT_CONTAINS(merge_error({{hardlink("h", "./h")}}), "does not point to a file");
    EXPECT_CONTAINS(merge_error({{hardlink("h1", "h2"), hardlink("h2", "h1")}}), "loop");
    EXPECT_CONTAINS(merge_error({{special("dev/mem", AE_IFCHR), hardlink("h", "dev/mem")}}),
                    "device");
}

TEST_F(LayersTest, EntriesEscapingTheRootAreRefused)
{
    for (std::string name :
         {"../../victim/pwn", "../x", "/etc/x", "a/../../x", "/../victim/x", "a/.."}) {
        auto error = merge_error({{file("ok")}, {file("fine"), file(name, "pwn")}});
        EXPECT_CONTAINS(error, "layer sha256:layer1: entry '" + name + "' escapes the image root");
    }
}

TEST_F(LayersTest, OverlongNamesAreRefused)
{
    std::string component(255, 'c');
    EXPECT_EQ(merged({{file(component)}}), sorted({{component, 'f', 0644, ""}}));
    EXPECT_CONTAINS(merge_error({{file(component + "c")}}), "name component longer than 255");
    std::string deep;
    while (deep.size() <= 4096)
        deep += "0123456789/";
    EXPECT_CONTAINS(merge_error({{file(deep + "f")}}), "longer than 4096 bytes");
}

TEST_F(LayersTest, EntryCapCountsEveryEntryOfEveryLayer)
{
    limits_.max_entries = 5;
    EXPECT_EQ(merge_error({{file("a"), file("b")}, {file("c"), file("d"), file("e")}}), "");
    // The top layer is read first: its three entries, then the bottom layer's until the cap.
    auto error =
        merge_error({{file("a"), file("b"), file("c")}, {file("d"), file("e"), file("f")}});
    EXPECT_CONTAINS(error, "image exceeds image_max_entries (5): its layers hold more than 5 "
                           "entries (layer sha256:layer0, entry 'c'); raise it in cocoon.yaml");
    // Whiteouts and entries that upper layers hide count too: each is work for the merge.
    error = merge_error(
        {{file("a")}, {file(".wh.a"), file(".wh.a"), file(".wh.a"), file(".wh.a"), file(".wh.a")}});
    EXPECT_CONTAINS(error, "image exceeds image_max_entries (5)");
    EXPECT_CONTAINS(error, "entry 'a'");
}

TEST_F(LayersTest, SizeCapCountsTheFilesOfEveryLayer)
{
    limits_.max_size = 10;
    EXPECT_EQ(merge_error({{file("a", "12345")}, {file("b", "12345"), dir("d")}}), "");
    // The bottom layer's "hidden" never reaches the image, but it is unpacked all the same.
    auto error = merge_error(
        {{file("a", "12345"), file("hidden", "1")}, {file("b", "12345"), file(".wh.hidden")}});
    EXPECT_CONTAINS(error, "image exceeds image_max_size (10): layer sha256:layer0: entry "
                           "'hidden' (1 bytes) takes the files of the image's layers past 10 "
                           "bytes; raise it in cocoon.yaml");
}

TEST_F(LayersTest, PathLengthCapCoversNamesAndLinkTargets)
{
    limits_.max_path_length = 10;
    EXPECT_EQ(merge_error({{dir("abcd"), file("abcd/12345"), symlink("s", "0123456789"),
                            hardlink("h", "abcd/12345")}}),
              "");
    EXPECT_CONTAINS(merge_error({{dir("abcd"), file("abcd/123456")}}),
                    "image exceeds image_max_path_length (10): layer sha256:layer0: entry "
                    "'abcd/123456' is longer than 10 bytes; raise it in cocoon.yaml");
    EXPECT_CONTAINS(merge_error({{file("f"), hardlink("h", "./abcdefghijk")}}),
                    "image exceeds image_max_path_length (10): layer sha256:layer0: entry 'h': "
                    "hardlink target './abcdefghijk' is longer than 10 bytes");
    EXPECT_CONTAINS(merge_error({{symlink("s", "/a/b/c/d/e/f")}}),
                    "image exceeds image_max_path_length (10): layer sha256:layer0: symlink "
                    "'s' has a target longer than 10 bytes");
}

// Every parent of a path is kept as a path of its own: a few deep entries must not make
// the merge's memory grow past what the entry cap allows.
TEST_F(LayersTest, PathsKeptInMemoryAreBoundedByTheEntryCap)
{
    limits_.max_entries = 50;
    std::string deep;
    for (int i = 0; i < 100; ++i)
        deep += "d/";
    auto error = merge_error({{file(deep + "f")}});
    EXPECT_CONTAINS(error, "image exceeds image_max_entries (50): merging its layers would keep "
                           "more than 50 paths or 12800 bytes of paths");

    limits_.max_entries = 3;
    std::string a(255, 'a'), b(255, 'b'), c(255, 'c');
    error = merge_error({{file(a + "/" + b + "/" + c)}});
    EXPECT_CONTAINS(error, "image exceeds image_max_entries (3): merging its layers would keep "
                           "more than 3 paths or 768 bytes of paths");
}

TEST_F(LayersTest, WritingThroughASymlinkOfTheSameLayerIsRefused)
{
    auto error = merge_error({{symlink("loophole", "../victim"), file("loophole/file")}});
    EXPECT_CONTAINS(error, "layer sha256:layer0: entry 'loophole/file' would be written "
                           "through the symlink 'loophole'");
    auto absolute = merge_error({{file("x")}, {symlink("etc", "/etc"), file("etc/passwd")}});
    EXPECT_CONTAINS(absolute, "layer sha256:layer1: entry 'etc/passwd' would be written "
                              "through the symlink 'etc'");
    auto whiteout = merge_error({{symlink("l", "/tmp"), file("l/.wh.x")}});
    EXPECT_CONTAINS(whiteout, "through the symlink 'l'");
}

TEST_F(LayersTest, EntryBeneathAFileOfTheSameLayerIsRefused)
{
    EXPECT_CONTAINS(merge_error({{file("f"), file("f/x")}}), "which is not a directory");
}

TEST_F(LayersTest, UpperDirectoryWinsOverLowerSymlink)
{
    auto result = merged({
        {file("a/below")},
        {symlink("a", "/tmp")},
        {file("a/x", "x")},
    });
    // The symlink layer ends the merge of "a": "a/below" stays hidden, as in overlayfs.
    EXPECT_EQ(result, sorted({{"a/x", 'f', 0644, "x"}}));
}

TEST_F(LayersTest, UpperSymlinkReplacesLowerDirectory)
{
    auto result = merged({{dir("lib"), file("lib/libc.so")}, {symlink("lib", "usr/lib")}});
    EXPECT_EQ(result, sorted({{"lib", 'l', 0777, "usr/lib"}}));
}

TEST_F(LayersTest, SymlinkOrFileAtTheRootIsRefused)
{
    EXPECT_CONTAINS(merge_error({{file("a")}, {symlink(".", "/tmp/x")}}),
                    "layer sha256:layer1: entry '.' would replace the image root");
    EXPECT_CONTAINS(merge_error({{symlink("./", "/tmp/x")}}), "would replace the image root");
}

TEST_F(LayersTest, RootDirectoryEntryIsWrittenOnceFromTheTopmostLayer)
{
    auto result = merged({{dir("./", 0700), file("a")}, {dir(".", 0755), file("b")}});
    EXPECT_EQ(result, sorted({
                          {".", 'd', 0755, ""},
                          {"a", 'f', 0644, ""},
                          {"b", 'f', 0644, ""},
                      }));
}

TEST_F(LayersTest, RepeatedPathInOneLayerKeepsTheFirst)
{
    EXPECT_EQ(merged({{file("f", "first"), file("f", "second")}}),
              sorted({{"f", 'f', 0644, "first"}}));
    // libarchive #1566: a directory then a symlink of the same name; no symlink results.
    EXPECT_EQ(merged({{dir("d", 0777), symlink("d", "/home/victim/dir"), file("d/x")}}),
              sorted({{"d", 'd', 0777, ""}, {"d/x", 'f', 0644, ""}}));
}

// Sockets are skipped the same way; tar writers cannot store them, so there is no case.
TEST_F(LayersTest, DevicesAndFifosAreSkipped)
{
    auto result = merged({
        {file("dev/null", "lower file"), file("opt/keep")},
        {dir("dev"), special("dev/null", AE_IFCHR), special("dev/sda", AE_IFBLK),
         special("opt/mem", AE_IFCHR), special("run/fifo", AE_IFIFO)},
    });
    // The skipped device still covers the lower layer's file of the same path.
    EXPECT_EQ(result, sorted({{"dev", 'd', 0755, ""}, {"opt/keep", 'f', 0644, ""}}));
}

TEST_F(LayersTest, SetuidAndSetgidBitsAreStripped)
{
    auto result = merged({{file("bin/su", "su", 04755), file("bin/wall", "w", 02755),
                           dir("shared", 02775), file("sticky", "", 01777)}});
    EXPECT_EQ(result, sorted({
                          {"bin/su", 'f', 0755, "su"},
                          {"bin/wall", 'f', 0755, "w"},
                          {"shared", 'd', 0775, ""},
                          {"sticky", 'f', 01777, ""},
                      }));
}

TEST_F(LayersTest, FileCapabilitiesAreDroppedOtherXattrsKept)
{
    In ping = file("bin/ping", "p", 0755);
    ping.xattrs = {{"security.capability", "cap_net_raw+ep"}, {"user.foo", "bar"}};
    In plain = file("bin/plain", "q");
    plain.xattrs = {{"user.x", "1"}, {"security.selinux", "ctx"}};
    auto result = merged({{ping, plain}});
    EXPECT_EQ(result, sorted({
                          {"bin/ping", 'f', 0755, "p", "user.foo=bar;"},
                          {"bin/plain", 'f', 0644, "q", "security.selinux=ctx;user.x=1;"},
                      }));
}

TEST_F(LayersTest, CompressedLayers)
{
    Contents contents = {{dir("a"), file("a/x", "x"), file("a/y", "y")},
                         {file("a/.wh.x"), file("b", "b")}};
    auto expected = sorted({{"a", 'd', 0755, ""}, {"a/y", 'f', 0644, "y"}, {"b", 'f', 0644, "b"}});
    EXPECT_EQ(merged(contents, Compression::gzip), expected);
    EXPECT_EQ(merged(contents, Compression::zstd), expected);
}

TEST_F(LayersTest, LargeFileIsCopiedWhole)
{
    std::string big;
    for (int i = 0; big.size() < 300000; ++i)
        big += std::to_string(i) + ",";
    EXPECT_EQ(merged({{file("big", big)}}, Compression::gzip), sorted({{"big", 'f', 0644, big}}));
}

TEST_F(LayersTest, FailedMergeLeavesAStreamWithoutItsEnd)
{
    std::string big;
    for (int i = 0; big.size() < 300000; ++i)
        big += std::to_string(i) + ",";
    std::string out;
    try {
        auto layers = make_layers({{file("big", big), hardlink("h", "nothere")}});
        out = dir_.path() + "/merged.tar";
        merge(layers);
        FAIL() << "no error";
    } catch (const cocoon::Error&) {
    }
    // A reader must not take the part written so far for a complete image: no
    // end-of-archive blocks (two zero blocks) follow it.
    std::string written = slurp(out);
    EXPECT_GT(written.size(), 0u);
    EXPECT_LT(written.size(), big.size() + 4096);
    EXPECT_NE(written.substr(written.size() - 1024), std::string(1024, '\0'));
}

TEST_F(LayersTest, NonAsciiNamesSurvive)
{
    std::string name = "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac";
    auto result = merged({
        {file(name, "x"), file("caf\xc3\xa9/gone"), symlink("s", name), hardlink("h", name)},
        {file("caf\xc3\xa9/.wh.gone")},
    });
    EXPECT_EQ(result, sorted({
                          {name, 'f', 0644, "x"},
                          {"h", 'h', 0644, name},
                          {"s", 'l', 0777, name},
                      }));
}

TEST_F(LayersTest, EmptyLayerIsAccepted)
{
    auto layers = make_layers({{file("a")}});
    std::string empty = dir_.path() + "/empty";
    std::ofstream(empty).close();
    layers.push_back({empty, "sha256:empty"});
    EXPECT_EQ(read_tar(merge(layers)), sorted({{"a", 'f', 0644, ""}}));
}

TEST_F(LayersTest, UnreadableLayersNameTheirDigest)
{
    auto layers = make_layers({{file("a")}});
    layers.push_back({dir_.path() + "/missing", "sha256:missing"});
    try {
        merge(layers);
        FAIL() << "no error";
    } catch (const cocoon::Error& error) {
        EXPECT_CONTAINS(error.what(), "layer sha256:missing: cannot open");
    }
    std::string garbage = dir_.path() + "/garbage";
    std::ofstream(garbage) << std::string(4096, 'x');
    layers.back() = {garbage, "sha256:garbage"};
    try {
        merge(layers);
        FAIL() << "no error";
    } catch (const cocoon::Error& error) {
        EXPECT_CONTAINS(error.what(), "layer sha256:garbage");
    }
}

// --- the merged stream as tar2sqfs input ---

const char* const tar2sqfs = "/usr/bin/tar2sqfs";
const char* const unsquashfs = "/usr/bin/unsquashfs";

// Starts argv[0] (no shell) with stdin and stdout/stderr on the given descriptors.
pid_t spawn(const std::vector<std::string>& args, int in_fd, int out_fd)
{
    std::vector<char*> argv;
    for (const std::string& arg : args)
        argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    pid_t pid = fork();
    require(pid >= 0, "fork");
    if (pid == 0) {
        if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
            _exit(126);
        execv(argv[0], argv.data());
        _exit(127);
    }
    return pid;
}

int wait_for(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        require(errno == EINTR, "waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Keeps a failed tar2sqfs from killing the test with SIGPIPE: the write fails instead.
class IgnoreSigpipe {
public:
    IgnoreSigpipe() { sigaction(SIGPIPE, &ignore_, &saved_); }
    ~IgnoreSigpipe() { sigaction(SIGPIPE, &saved_, nullptr); }
    IgnoreSigpipe(const IgnoreSigpipe&) = delete;
    IgnoreSigpipe& operator=(const IgnoreSigpipe&) = delete;

private:
    struct sigaction ignore_ = {};
    struct sigaction saved_ = {};
};

TEST_F(LayersTest, Tar2sqfsAcceptsTheMergedStream)
{
    if (access(tar2sqfs, X_OK) != 0 || access(unsquashfs, X_OK) != 0)
        GTEST_SKIP() << "needs " << tar2sqfs << " and " << unsquashfs;
    In tagged = file("etc/tagged", "t");
    tagged.xattrs = {{"user.foo", "bar"}};
    auto layers = make_layers(
        {
            {dir("./"), dir("etc"), file("etc/old", "o"), dir("usr"), dir("usr/bin"),
             file("usr/bin/tool", "tool"), hardlink("usr/bin/tool2", "usr/bin/tool"),
             symlink("bin", "usr/bin"), dir("var"), file("var/cache", "c")},
            {dir("etc"), file("etc/.wh.old"), file("etc/new", "n"), file("opt/app/data", "d"),
             file("var/.wh..wh..opq")},
            {file("usr/lib/x/libfoo.so", "so"), hardlink("top/h", "usr/bin/tool"), tagged,
             special("dev/null", AE_IFCHR)},
        },
        Compression::gzip);
    std::string image = dir_.path() + "/out.sqsh";
    std::string log = dir_.path() + "/tar2sqfs.log";
    UniqueFd log_fd(open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    UniqueFd read_end(fds[0]);
    UniqueFd write_end(fds[1]);
    pid_t pid = spawn({tar2sqfs, "-q", "-c", "gzip", image}, read_end.get(), log_fd.get());
    read_end.reset();
    {
        IgnoreSigpipe guard;
        EXPECT_NO_THROW(cocoon::merge_layers(layers, write_end.get(), limits_));
        write_end.reset();
    }
    ASSERT_EQ(wait_for(pid), 0) << slurp(log);

    std::string listing_path = dir_.path() + "/listing";
    UniqueFd listing_fd(open(listing_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    UniqueFd null_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_EQ(wait_for(spawn({unsquashfs, "-l", image}, null_fd.get(), listing_fd.get())), 0)
        << slurp(listing_path);
    std::set<std::string> listed;
    std::istringstream lines(slurp(listing_path));
    for (std::string line; std::getline(lines, line);)
        if (line.starts_with("squashfs-root"))
            listed.insert(line);
    std::set<std::string> expected;
    for (const char* path :
         {"", "/bin", "/etc", "/etc/new", "/etc/tagged", "/opt", "/opt/app", "/opt/app/data",
          "/top", "/top/h", "/usr", "/usr/bin", "/usr/bin/tool", "/usr/bin/tool2", "/usr/lib",
          "/usr/lib/x", "/usr/lib/x/libfoo.so", "/var"})
        expected.insert(std::string("squashfs-root") + path);
    EXPECT_EQ(listed, expected);

    std::string cat_path = dir_.path() + "/cat";
    UniqueFd cat_fd(open(cat_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_EQ(wait_for(spawn({unsquashfs, "-cat", image, "top/h"}, null_fd.get(), cat_fd.get())),
              0);
    EXPECT_EQ(slurp(cat_path), "tool");

    const char* rdsquashfs = "/usr/bin/rdsquashfs";
    if (access(rdsquashfs, X_OK) != 0)
        return;
    std::string xattr_path = dir_.path() + "/xattr";
    UniqueFd xattr_fd(open(xattr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_EQ(
        wait_for(spawn({rdsquashfs, "-x", "/etc/tagged", image}, null_fd.get(), xattr_fd.get())),
        0);
    EXPECT_EQ(slurp(xattr_path), "user.foo=bar\n");
}

} // namespace
