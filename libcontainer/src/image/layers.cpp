// Merges the layers of an image in one streaming pass, top layer first.
//
// Why top-down: an entry of a lower layer belongs in the image only if no layer above it
// wrote, deleted or hid its path, and that is known once the upper layers are read. So each
// layer is decompressed once (by a thread of its own, LayerDecompressor, while this one
// parses), nothing is extracted to disk, and memory holds only sets of paths. The output
// lists upper entries before lower ones, so a file may come before its parent directory
// and a hardlink before its target. tar2sqfs (squashfs-tools-ng 1.2)
// accepts both: it creates a missing parent as an implicit directory that a later
// directory entry gives its attributes, and it resolves hardlinks once the whole stream is
// read. It refuses a path given twice, so each path is written exactly once.
//
// Bounds, since layers are hostile: every tar entry read counts against image_max_entries
// and every regular file's size against image_max_size, before its data is read; a path
// longer than image_max_path_length is refused. Memory: the merge keeps a Node per path
// of the result (and per implied parent), a path per whiteout and opaque directory, and
// the names of each hardlink (check_link_loops copies those once more). Each path kept is
// counted against image_max_entries and its bytes against image_max_entries x
// kept_bytes_per_entry, so memory stays under about image_max_entries x (256 bytes + a
// hash node) -- some 400 MB at the default cap -- whatever the layers hold: long paths
// of many components, each of whose parents is kept, cannot make it quadratic. tar2sqfs
// builds its tree of the same entries in memory, and so is bounded by the same cap.
#include "layers.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "archive_ptr.h"
#include "cocoon/error.h"
#include "layer_decompressor.h"

namespace cocoon {

namespace {

constexpr size_t max_component_length = 255; // NAME_MAX
// The average bytes of a kept path that image_max_entries allows: real images average
// well under 100.
constexpr uint64_t kept_bytes_per_entry = 256;
constexpr size_t copy_chunk = size_t{64} * 1024;
constexpr size_t shown_name_length = 200;
constexpr std::string_view whiteout_prefix = ".wh.";
constexpr std::string_view opaque_marker = ".wh..wh..opq";
// AUFS bookkeeping (".wh..wh.plnk", ".wh..wh.aufs") starts like this; an image has no use
// for it.
constexpr std::string_view aufs_prefix = ".wh..wh.";

// Lets the path sets be probed with views of a path's prefixes, without copying them.
struct PathHash {
    using is_transparent = void;
    size_t operator()(std::string_view path) const noexcept
    {
        return std::hash<std::string_view>{}(path);
    }
};

using PathSet = std::unordered_set<std::string, PathHash, std::equal_to<>>;
template <typename Value>
using PathMap = std::unordered_map<std::string, Value, PathHash, std::equal_to<>>;

// Paths are relative to the image root, without "." or empty components; "" is the root.
enum class Kind { implied_dir, dir, file, symlink, hardlink, skipped };

bool is_dir(Kind kind)
{
    return kind == Kind::dir || kind == Kind::implied_dir;
}

// What the result holds at a path, and which layer (index into `layers`) put it there.
// implied_dir: a parent of an entry that had no entry of its own (yet).
// skipped: a device, fifo or socket; not written, but it still covers lower layers' path.
struct Node {
    Kind kind;
    size_t layer;
};

struct Link {
    size_t layer;
    std::string digest;
    std::string target;
    std::string raw_name;
    std::string raw_target;
};

// Where the merged stream goes. Freeing a writer closes it, which flushes its buffer and
// writes the end-of-archive blocks; after an error that would make a half-merged stream
// read as a complete image (tar2sqfs accepts a stream that ends between two entries), so
// a discarding sink swallows it. archive_write_fail() would skip the close but leaks.
struct Sink {
    int fd;
    bool discard = false;
};

la_ssize_t write_to_sink(archive* a, void* data, const void* buffer, size_t length)
{
    auto* sink = static_cast<Sink*>(data);
    if (sink->discard)
        return static_cast<la_ssize_t>(length);
    for (;;) {
        ssize_t written = write(sink->fd, buffer, length);
        if (written >= 0)
            return written; // libarchive calls again for the rest
        if (errno != EINTR) {
            archive_set_error(a, errno, "%s", std::strerror(errno));
            return -1;
        }
    }
}

// A failed write of the merged stream keeps its errno (EPIPE: the reader stopped), so the
// caller can tell a reader that gave up from a broken layer without reading the text.
[[noreturn]] void fail_writing(archive* out, const std::string& what)
{
    throw Error(fmt::format("writing the merged image: {}{}", what, archive_error(out)),
                archive_errno(out));
}

// Hostile names can be long enough to drown the message.
std::string shown(std::string_view name)
{
    if (name.size() <= shown_name_length)
        return std::string(name);
    return std::string(name.substr(0, shown_name_length)) + "...";
}

[[noreturn]] void exceeded(std::string_view key, uint64_t limit, const std::string& detail)
{
    fail("image exceeds {} ({}): {}; raise it in cocoon.yaml", key, limit, detail);
}

// Calls `visit` with each proper ancestor of `path` but the root ("a", "a/b" for "a/b/c"),
// until it returns true.
template <typename Visit>
bool any_ancestor(std::string_view path, Visit visit)
{
    for (size_t slash = path.find('/'); slash != std::string_view::npos;
         slash = path.find('/', slash + 1))
        if (visit(path.substr(0, slash)))
            return true;
    return false;
}

std::string_view parent_of(std::string_view path)
{
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash);
}

std::string_view base_of(std::string_view path)
{
    size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string join(std::string_view dir, std::string_view name)
{
    std::string path(dir);
    if (!path.empty())
        path += '/';
    path += name;
    return path;
}

// libarchive gives names in the current locale; in the C locale of slurmstepd a non-ASCII
// name does not convert, and its UTF-8 form is what the layer holds.
const char* name_of(archive_entry* entry)
{
    const char* name = archive_entry_pathname(entry);
    return name ? name : archive_entry_pathname_utf8(entry);
}

const char* hardlink_of(archive_entry* entry)
{
    const char* target = archive_entry_hardlink(entry);
    return target ? target : archive_entry_hardlink_utf8(entry);
}

// libarchive's pax writer reads the locale form of an entry's names and would dereference
// null for a name that has only a UTF-8 form; the clone gets byte forms of all of them.
void pin_names(archive_entry* entry)
{
    if (!archive_entry_symlink(entry) && archive_entry_symlink_utf8(entry))
        archive_entry_copy_symlink(entry, archive_entry_symlink_utf8(entry));
    if (!archive_entry_uname(entry) && archive_entry_uname_utf8(entry))
        archive_entry_copy_uname(entry, archive_entry_uname_utf8(entry));
    if (!archive_entry_gname(entry) && archive_entry_gname_utf8(entry))
        archive_entry_copy_gname(entry, archive_entry_gname_utf8(entry));
}

// "./a//b/" -> "a/b", "./" -> "". Refuses what could leave the root, and names no
// filesystem takes (which also bounds the work done per name).
std::string normalize(std::string_view raw, const Layer& layer, std::string_view label,
                      uint64_t max_path_length)
{
    if (raw.empty())
        fail("layer {}: {} is empty", layer.digest, label);
    if (raw.front() == '/')
        fail("layer {}: {} '{}' escapes the image root", layer.digest, label, shown(raw));
    std::string path;
    for (size_t start = 0; start <= raw.size();) {
        size_t end = raw.find('/', start);
        if (end == std::string_view::npos)
            end = raw.size();
        std::string_view component = raw.substr(start, end - start);
        start = end + 1;
        if (component.empty() || component == ".")
            continue;
        if (component == "..")
            fail("layer {}: {} '{}' escapes the image root", layer.digest, label, shown(raw));
        if (component.size() > max_component_length)
            fail("layer {}: {} '{}' has a name component longer than {} bytes", layer.digest, label,
                 shown(raw), max_component_length);
        if (!path.empty())
            path += '/';
        path += component;
        if (path.size() > max_path_length)
            exceeded("image_max_path_length", max_path_length,
                     fmt::format("layer {}: {} '{}' is longer than {} bytes", layer.digest, label,
                                 shown(raw), max_path_length));
    }
    return path;
}

Kind kind_of(archive_entry* entry)
{
    if (hardlink_of(entry))
        return Kind::hardlink;
    switch (archive_entry_filetype(entry)) {
    case AE_IFREG: return Kind::file;
    case AE_IFDIR: return Kind::dir;
    case AE_IFLNK: return Kind::symlink;
    default:
        // Devices could not be created unprivileged anyway and are nodev in the container;
        // fifos and sockets in an image are leftovers of a build. None is worth keeping.
        return Kind::skipped;
    }
}

// The container runs unprivileged, so set-id bits and file capabilities could only ever
// matter by mistake; they never enter the image. Other xattrs are kept, each once: a layer
// written by libarchive holds each xattr twice (LIBARCHIVE.xattr and SCHILY.xattr records)
// and libarchive 3.6 reads both.
void drop_privileges(archive_entry* entry)
{
    archive_entry_set_perm(entry,
                           archive_entry_perm(entry) & ~static_cast<mode_t>(S_ISUID | S_ISGID));
    if (archive_entry_xattr_reset(entry) == 0)
        return;
    std::vector<std::pair<std::string, std::string>> kept;
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
        bool seen = std::any_of(kept.begin(), kept.end(),
                                [&](const auto& xattr) { return xattr.first == name; });
        if (!seen && std::string_view(name) != "security.capability")
            kept.emplace_back(name, std::string(static_cast<const char*>(value), size));
    }
    archive_entry_xattr_clear(entry);
    for (const auto& [kept_name, kept_value] : kept)
        archive_entry_xattr_add_entry(entry, kept_name.c_str(), kept_value.data(),
                                      kept_value.size());
}

// A reader of one layer's tar, decompressed by `decompressor`.
ReadArchive open_layer(LayerDecompressor& decompressor, const Layer& layer, size_t index)
{
    ReadArchive reader(archive_read_new());
    if (!reader)
        throw std::bad_alloc();
    archive* a = reader.get();
    if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_support_format_empty(a) != ARCHIVE_OK ||
        decompressor.open(a, index) != ARCHIVE_OK)
        fail("layer {}: {}", layer.digest, archive_error(a));
    return reader;
}

class Merger {
public:
    Merger(int out_fd, const LayerLimits& limits);
    ~Merger() { sink_.discard = true; } // unless finish() closed the stream, it stays cut
    Merger(const Merger&) = delete;
    Merger& operator=(const Merger&) = delete;
    void merge(LayerDecompressor& decompressor, const Layer& layer, size_t index);
    void finish();

private:
    // What one layer's whiteouts do to the layers below it: applied once it is read.
    struct Pass {
        const Layer& layer;
        size_t index;
        PathSet hides;
        PathMap<time_t> opaque_dirs;
    };

    void count_entry(const Pass& pass, archive_entry* entry);
    void keep(size_t bytes, std::string_view path);
    void add_entry(Pass& pass, archive* in, archive_entry* entry);
    void hide(Pass& pass, std::string path);
    void add_whiteout(Pass& pass, const std::string& path, std::string_view raw,
                      archive_entry* entry);
    bool survives(Pass& pass, const std::string& path, Kind kind, std::string_view raw);
    bool under_nondir(const Pass& pass, std::string_view path, std::string_view raw) const;
    bool hidden(std::string_view path) const;
    void emit(const Pass& pass, archive* in, archive_entry* entry, const std::string& path,
              Kind kind, std::string_view raw, std::string target);
    void emit_opaque_dir(const Pass& pass, const std::string& dir, time_t mtime);
    void end_layer(Pass& pass);
    void write_header(archive_entry* entry, std::string_view raw, const Layer& layer);
    void copy_data(archive* in, std::string_view raw, const Layer& layer);
    void record(const std::string& path, Kind kind, size_t layer);
    void check_link(const Link& link) const;
    void check_link_loops() const;

    LayerLimits limits_;
    uint64_t max_kept_bytes_;
    uint64_t entries_ = 0; // tar entries read, all layers
    uint64_t size_ = 0; // bytes of regular files read, all layers
    uint64_t kept_paths_ = 0; // paths held in the sets and maps below
    uint64_t kept_bytes_ = 0; // and their bytes
    Sink sink_;
    WriteArchive out_; // after sink_: freed while the sink still exists
    PathMap<Node> nodes_;
    PathSet hidden_; // whiteouts and opaque directories of the layers read so far
    PathMap<Link> links_; // hardlinks written, checked once every layer is read
    std::vector<char> buffer_;
};

Merger::Merger(int out_fd, const LayerLimits& limits)
    : limits_(limits)
    , max_kept_bytes_(limits.max_entries > UINT64_MAX / kept_bytes_per_entry
                          ? UINT64_MAX
                          : limits.max_entries * kept_bytes_per_entry)
    , sink_{out_fd}
    , out_(archive_write_new())
    , buffer_(copy_chunk)
{
    if (!out_)
        throw std::bad_alloc();
    if (archive_write_set_format_pax_restricted(out_.get()) != ARCHIVE_OK ||
        archive_write_open2(out_.get(), &sink_, nullptr, write_to_sink, nullptr, nullptr) !=
            ARCHIVE_OK)
        fail_writing(out_.get(), "");
}

void Merger::merge(LayerDecompressor& decompressor, const Layer& layer, size_t index)
{
    {
        ReadArchive reader = open_layer(decompressor, layer, index);
        archive* in = reader.get();
        Pass pass{layer, index, {}, {}};
        for (;;) {
            archive_entry* entry = nullptr; // owned by the reader
            int status = archive_read_next_header(in, &entry);
            if (status == ARCHIVE_EOF)
                break;
            if (status != ARCHIVE_OK && status != ARCHIVE_WARN)
                fail("layer {}: {}", layer.digest, archive_error(in));
            count_entry(pass, entry);
            add_entry(pass, in, entry);
        }
        end_layer(pass);
    }
    decompressor.close(index); // once the reader that held its buffer is freed
}

// Before anything of the entry is kept or its data read.
void Merger::count_entry(const Pass& pass, archive_entry* entry)
{
    const char* name = name_of(entry);
    std::string_view raw = name ? name : "?";
    if (++entries_ > limits_.max_entries)
        exceeded("image_max_entries", limits_.max_entries,
                 fmt::format("its layers hold more than {} entries (layer {}, entry '{}')",
                             limits_.max_entries, pass.layer.digest, shown(raw)));
    if (archive_entry_filetype(entry) != AE_IFREG || !archive_entry_size_is_set(entry) ||
        archive_entry_size(entry) <= 0)
        return;
    auto size = static_cast<uint64_t>(archive_entry_size(entry));
    if (size > limits_.max_size - size_)
        exceeded("image_max_size", limits_.max_size,
                 fmt::format("layer {}: entry '{}' ({} bytes) takes the files of the image's "
                             "layers past {} bytes",
                             pass.layer.digest, shown(raw), size, limits_.max_size));
    size_ += size;
}

// Counts a path (or a hardlink's names) about to be kept in memory.
void Merger::keep(size_t bytes, std::string_view path)
{
    ++kept_paths_;
    kept_bytes_ += bytes;
    if (kept_paths_ > limits_.max_entries || kept_bytes_ > max_kept_bytes_)
        exceeded("image_max_entries", limits_.max_entries,
                 fmt::format("merging its layers would keep more than {} paths or {} bytes "
                             "of paths (at '{}')",
                             limits_.max_entries, max_kept_bytes_, shown(path)));
}

void Merger::add_entry(Pass& pass, archive* in, archive_entry* entry)
{
    const char* raw_name = name_of(entry);
    if (!raw_name)
        fail("layer {}: an entry has no readable name", pass.layer.digest);
    std::string_view raw = raw_name;
    std::string path = normalize(raw, pass.layer, "entry", limits_.max_path_length);
    if (base_of(path).starts_with(whiteout_prefix)) {
        add_whiteout(pass, path, raw, entry);
        return;
    }
    Kind kind = kind_of(entry);
    if (path.empty() && kind != Kind::dir)
        fail("layer {}: entry '{}' would replace the image root with a non-directory",
             pass.layer.digest, shown(raw));
    std::string target;
    if (kind == Kind::hardlink) {
        target = normalize(hardlink_of(entry), pass.layer,
                           fmt::format("entry '{}': hardlink target", shown(raw)),
                           limits_.max_path_length);
        if (target.empty() || target == path)
            fail("layer {}: hardlink '{}' -> '{}' does not point to a file", pass.layer.digest,
                 shown(raw), shown(hardlink_of(entry)));
    }
    if (kind == Kind::symlink) {
        const char* link = archive_entry_symlink(entry);
        link = link ? link : archive_entry_symlink_utf8(entry);
        size_t length = link ? std::strlen(link) : 0;
        if (length > limits_.max_path_length)
            exceeded("image_max_path_length", limits_.max_path_length,
                     fmt::format("layer {}: symlink '{}' has a target longer than {} bytes",
                                 pass.layer.digest, shown(raw), limits_.max_path_length));
    }
    if (!survives(pass, path, kind, raw))
        return;
    if (kind == Kind::skipped) {
        if (!nodes_.contains(path)) {
            keep(path.size(), path);
            nodes_.emplace(path, Node{kind, pass.index});
        }
    } else
        emit(pass, in, entry, path, kind, raw, std::move(target));
}

// Whiteouts act on lower layers only (OCI image-spec, layer.md): they are collected here
// and applied when this layer ends, so its own entries survive whatever their order.
void Merger::add_whiteout(Pass& pass, const std::string& path, std::string_view raw,
                          archive_entry* entry)
{
    under_nondir(pass, path, raw); // refuses a whiteout placed through this layer's symlink
    std::string_view dir = parent_of(path);
    std::string_view base = base_of(path);
    if (base == opaque_marker) {
        if (!pass.opaque_dirs.contains(dir)) {
            keep(dir.size(), dir);
            pass.opaque_dirs.emplace(std::string(dir), archive_entry_mtime(entry));
        }
        return;
    }
    if (base.starts_with(aufs_prefix))
        return;
    std::string_view name = base.substr(whiteout_prefix.size());
    if (name.empty() || name == "." || name == "..")
        fail("layer {}: entry '{}' is a whiteout of '{}', which is not a file name",
             pass.layer.digest, shown(raw), name);
    hide(pass, join(dir, name));
}

void Merger::hide(Pass& pass, std::string path)
{
    if (pass.hides.contains(path))
        return;
    keep(path.size(), path);
    pass.hides.insert(std::move(path));
}

// Whether this layer's entry at `path` belongs in the image, given what the layers above
// and this layer's earlier entries put there.
bool Merger::survives(Pass& pass, const std::string& path, Kind kind, std::string_view raw)
{
    if (under_nondir(pass, path, raw) || hidden(path))
        return false;
    auto it = nodes_.find(path);
    if (it == nodes_.end())
        return true;
    const Node& node = it->second;
    // Only a parent of some entry so far: this directory entry gives it its attributes.
    if (node.kind == Kind::implied_dir && kind == Kind::dir)
        return true;
    // A lower non-directory under an upper directory ends the merge of that directory, as
    // in overlayfs: the layers below this one can add nothing to it.
    if (is_dir(node.kind) && !is_dir(kind) && node.layer != pass.index)
        hide(pass, path);
    // An upper layer wrote this path, or this layer did earlier. tar would let the later
    // copy within one layer win; we keep the first so that each path is written once and
    // no entry has to be held back. Well-formed layers never repeat a path.
    return false;
}

// Whether a parent of `path` is a non-directory in the result. One that an upper layer
// wrote replaced the whole subtree; one that this layer wrote would be written through
// (a symlink) or cannot hold children: the layer is refused.
bool Merger::under_nondir(const Pass& pass, std::string_view path, std::string_view raw) const
{
    return any_ancestor(path, [&](std::string_view parent) {
        auto it = nodes_.find(parent);
        if (it == nodes_.end() || is_dir(it->second.kind))
            return false;
        if (it->second.layer != pass.index)
            return true;
        if (it->second.kind == Kind::symlink)
            fail("layer {}: entry '{}' would be written through the symlink '{}'",
                 pass.layer.digest, shown(raw), shown(parent));
        fail("layer {}: entry '{}' lies beneath '{}', which is not a directory", pass.layer.digest,
             shown(raw), shown(parent));
    });
}

// Whether an upper layer's whiteout or opaque directory hides `path` (the path itself or a
// parent, never a name elsewhere: a whiteout at the root hides one root entry).
bool Merger::hidden(std::string_view path) const
{
    if (hidden_.empty())
        return false;
    if (hidden_.contains(std::string_view{}) || hidden_.contains(path))
        return true;
    return any_ancestor(path, [&](std::string_view parent) { return hidden_.contains(parent); });
}

void Merger::emit(const Pass& pass, archive* in, archive_entry* entry, const std::string& path,
                  Kind kind, std::string_view raw, std::string target)
{
    ArchiveEntry out(archive_entry_clone(entry));
    if (!out)
        throw std::bad_alloc();
    archive_entry_copy_pathname(out.get(), path.empty() ? "." : path.c_str());
    pin_names(out.get());
    drop_privileges(out.get());
    // archive_read_data fills holes with zeros, so the copy is written dense.
    archive_entry_sparse_clear(out.get());
    if (kind == Kind::hardlink)
        archive_entry_copy_hardlink(out.get(), target.c_str());
    if (kind != Kind::file)
        archive_entry_set_size(out.get(), 0);
    write_header(out.get(), raw, pass.layer);
    record(path, kind, pass.index);
    if (kind == Kind::hardlink) {
        std::string raw_target = hardlink_of(entry);
        keep(path.size() + target.size() + raw.size() + raw_target.size(), path);
        links_.emplace(path, Link{pass.index, pass.layer.digest, std::move(target),
                                  std::string(raw), std::move(raw_target)});
    }
    if (kind == Kind::file)
        copy_data(in, raw, pass.layer);
}

// An opaque marker says its directory exists in this layer; when the layer has no entry for
// the directory itself, one is made so that hiding the lower copies leaves it in place.
void Merger::emit_opaque_dir(const Pass& pass, const std::string& dir, time_t mtime)
{
    ArchiveEntry out(archive_entry_new());
    if (!out)
        throw std::bad_alloc();
    archive_entry_copy_pathname(out.get(), dir.c_str());
    archive_entry_set_filetype(out.get(), AE_IFDIR);
    archive_entry_set_perm(out.get(), 0755);
    archive_entry_set_mtime(out.get(), mtime, 0);
    write_header(out.get(), dir, pass.layer);
    record(dir, Kind::dir, pass.index);
}

void Merger::end_layer(Pass& pass)
{
    for (const auto& [dir, mtime] : pass.opaque_dirs) {
        if (!dir.empty() && !nodes_.contains(dir) && !hidden(dir) && !under_nondir(pass, dir, dir))
            emit_opaque_dir(pass, dir, mtime);
        hide(pass, dir);
    }
    hidden_.merge(pass.hides);
}

void Merger::write_header(archive_entry* entry, std::string_view raw, const Layer& layer)
{
    int status = archive_write_header(out_.get(), entry);
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN)
        fail_writing(out_.get(), fmt::format("entry '{}' of layer {}: ", shown(raw), layer.digest));
}

void Merger::copy_data(archive* in, std::string_view raw, const Layer& layer)
{
    for (;;) {
        la_ssize_t read = archive_read_data(in, buffer_.data(), buffer_.size());
        if (read == 0)
            return;
        if (read < 0)
            fail("layer {}: reading entry '{}': {}", layer.digest, shown(raw), archive_error(in));
        if (archive_write_data(out_.get(), buffer_.data(), static_cast<size_t>(read)) != read)
            fail_writing(out_.get(),
                         fmt::format("entry '{}' of layer {}: ", shown(raw), layer.digest));
    }
}

// Records `path` and, as directories, its parents: a lower layer's non-directory there is
// then covered by this directory.
void Merger::record(const std::string& path, Kind kind, size_t layer)
{
    any_ancestor(path, [&](std::string_view parent) {
        if (!nodes_.contains(parent)) {
            keep(parent.size(), parent);
            nodes_.emplace(std::string(parent), Node{Kind::implied_dir, layer});
        }
        return false;
    });
    if (!nodes_.contains(path))
        keep(path.size(), path);
    nodes_.insert_or_assign(path, Node{kind, layer});
}

void Merger::finish()
{
    for (const auto& entry : links_)
        check_link(entry.second);
    check_link_loops();
    if (archive_write_close(out_.get()) != ARCHIVE_OK)
        fail_writing(out_.get(), "");
}

// tar2sqfs resolves a hardlink by path in the final tree. So the target must be there, and
// must be the file the link's own layer saw: one an upper layer replaced would silently
// give the link other content, one it deleted would leave the link dangling.
void Merger::check_link(const Link& link) const
{
    auto fail_link = [&](std::string_view why) {
        fail("layer {}: hardlink '{}' -> '{}': {}", link.digest, shown(link.raw_name),
             shown(link.raw_target), why);
    };
    auto it = nodes_.find(link.target);
    if (it == nodes_.end())
        fail_link("the target is not in the image (missing, or deleted by an upper layer)");
    const Node& node = it->second;
    if (node.layer > link.layer)
        fail_link("an upper layer replaced the target; the link cannot keep the old file");
    if (is_dir(node.kind))
        fail_link("the target is a directory");
    if (node.kind == Kind::skipped)
        fail_link("the target is a device, fifo or socket, which images do not keep");
}

// Each link is followed once: a hostile layer's long chains cost linear time.
void Merger::check_link_loops() const
{
    PathSet done;
    for (const auto& [start, link] : links_) {
        PathSet walk;
        std::string_view path = start;
        while (!done.contains(path)) {
            if (!walk.emplace(path).second)
                fail("layer {}: hardlink '{}' is part of a loop of hardlinks", link.digest,
                     shown(link.raw_name));
            auto next = links_.find(path);
            if (next == links_.end())
                break;
            path = next->second.target;
        }
        done.merge(walk);
    }
}

} // namespace

LayerLimits layer_limits(const Config& config)
{
    return {config.image_max_size, config.image_max_entries, config.image_max_path_length};
}

void merge_layers(const std::vector<Layer>& layers, int out_fd, const LayerLimits& limits,
                  LayerArrivals* arrivals)
{
    LayerDecompressor decompressor(layers, arrivals);
    Merger merger(out_fd, limits);
    for (size_t index = layers.size(); index-- > 0;)
        merger.merge(decompressor, layers[index], index);
    merger.finish();
}

} // namespace cocoon
