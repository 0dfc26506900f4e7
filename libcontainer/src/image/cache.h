// The image cache: one squashfs file per image, content-addressed by manifest digest, that
// any number of tasks, steps, nodes and `cocoon pull`s may use at the same moment.
//
//   ROOT/images/<hex>.sqsh   the filesystem
//   ROOT/images/<hex>.json   what it is (the commit marker: written last)
//   ROOT/refs/<hash of key>  {"key", "digest", "name"}: a key (a tag, a name, a digest, each
//                            with the node's architecture) -> the image's digest. A record
//                            with a name is one of the names the image was used by: what
//                            `cocoon images` lists and `cocoon rmi NAME` removes.
//   ROOT/locks/<hex>.lock    flock'ed by the one process importing <hex>; never unlinked
//   ROOT/tmp/<hex>.<host>.<pid>/   work in progress; removed by the next lock holder
//
// An entry is visible only when complete: built in tmp/, fsync'ed, renamed into images/.
// An image goes when its last name goes (or by digest, with all its names).
//
// Trust: a cache decides what runs, so it is opened only when nobody but its owner (the
// user; root for a shared cache) and root could have changed it or any directory above it
// (util/safe_dir.h), and every operation afterwards is relative to the descriptors opened
// then, never following a symbolic link. A shared cache is the same layout in a directory
// that root owns and fills with `COCOON_CACHE_DIR=DIR cocoon pull`; users only read it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cocoon/config.h"
#include "cocoon/spec.h"
#include "cocoon/unique_fd.h"

namespace cocoon {

struct CachedImage {
    std::string digest; // manifest digest, the key
    std::string squashfs; // absolute path of the .sqsh
    std::string reference; // the name it was first imported as
    std::string config; // the image configuration (OCI config JSON), may be empty
    uint64_t size = 0; // bytes of the .sqsh
    time_t last_used = 0;
};

// One name an image was used by.
struct CachedName {
    std::string name;
    std::string digest;
};

class ImageCache {
public:
    enum class Access {
        ReadWrite, // the user's own cache: created as needed (mode 0700)
        ReadOnly, // a shared cache the admin fills: only looked up; absent is empty
    };
    // Opens the cache at `root` as the calling user, checking that it can be trusted:
    // owned by the caller (ReadWrite) or root (ReadOnly), not writable by group or others,
    // every directory above it changeable only by root or the owner. Throws Error naming
    // the path and the rule otherwise.
    // A ReadOnly cache may also belong to `shared_owner` (cocoon.yaml shared_cache_owner).
    explicit ImageCache(std::string root, Access access = Access::ReadWrite,
                        uid_t shared_owner = 0);

    const std::string& root() const { return root_; }

    std::optional<CachedImage> find(const std::string& digest) const;
    // Opens images/<hex>.sqsh of `digest` relative to the checked images/ directory, without
    // following a link; throws Error naming it when it is not a regular file there.
    UniqueFd open_squashfs(const std::string& digest) const;
    // The directory of the registry tokens kept for the cache's owner (token_store.h):
    // tokens/, created 0700 whatever the cache's mode, since tokens are credentials.
    // Invalid for a read-only or absent cache, or when it cannot be made.
    UniqueFd open_tokens_dir() const noexcept;
    std::vector<CachedImage> list() const;

    // Key -> digest, for cheap re-resolution and offline use. With a `name`, the record is
    // also one of the image's names. Writes nothing when the record is already there.
    // A record's modification time is when its key was last resolved (a registry answered
    // for the tag): with `resolved_since`, an older record is not returned; `resolved_at`,
    // when given, receives that time.
    std::optional<std::string> lookup_ref(const std::string& key, time_t resolved_since = 0,
                                          time_t* resolved_at = nullptr) const;
    void remember_ref(const std::string& key, const std::string& digest,
                      const std::string& name = {});
    // The record of `key` was resolved again now (nothing in a read-only cache).
    void mark_resolved(const std::string& key) const;
    // Every name recorded, with its digest (whether or not the image is in this cache).
    std::vector<CachedName> names() const;

    // Returns the entry for `digest`, building it with `build(work_dir)` when absent.
    // `build` must leave work_dir/image.sqsh and return the image configuration JSON. Only
    // one process builds a digest at a time; the others wait and then use its result.
    CachedImage import(const std::string& digest, const std::string& reference,
                       const std::function<std::string(const std::string&)>& build);

    // Marks an entry used now (least-recently-used order for eviction).
    void touch(const std::string& digest) const;

    // Removes an entry and every record that points to it; running containers keep their
    // open file. False when absent.
    bool remove(const std::string& digest);

    // Removes the records of `name`, then the images no name points to any more. Returns
    // the number of records removed (0: no such name).
    size_t remove_name(const std::string& name);

    // Removes least recently used entries until the cache holds at most `max_bytes`.
    // Entries in use (a container holds a shared lock on the squashfs file) and entries
    // being imported are skipped. Returns the digests removed.
    std::vector<std::string> evict(uint64_t max_bytes);

    // A scratch directory tmp/<prefix><pid> for work that is not an image build (archives
    // are unpacked there); scratch of processes of this host that are gone is removed
    // first. remove_scratch() removes it again.
    std::string make_scratch(const std::string& prefix);
    void remove_scratch(const std::string& path) noexcept;

private:
    struct Ref {
        std::string file; // name in refs/
        std::string key;
        std::string digest;
        std::string name;
    };
    std::vector<Ref> refs() const;
    std::optional<Ref> read_ref(const std::string& file) const;
    void remove_refs_to(const std::string& digest);
    void remove_image_files(const std::string& hex);
    // What a killed import of `hex` left: its work directories in tmp/ and the temporary of
    // its record. Only while holding locks/<hex>.lock, which every importer of it holds.
    void remove_dead_import(const std::string& hex);
    // The same for every other digest with work in tmp/ whose lock is free (no importer of
    // it is alive, on any host): an import killed and never tried again would otherwise
    // keep its partial layers there for good.
    void remove_dead_imports_of_others(const std::string& own_hex);

    std::string root_;
    bool absent_ = false; // a read-only cache that does not exist
    UniqueFd root_fd_, images_fd_, refs_fd_, locks_fd_, tmp_fd_;
};

} // namespace cocoon
