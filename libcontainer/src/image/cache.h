// The image cache: one squashfs file per image, content-addressed by manifest digest, that
// any number of tasks, steps, nodes and `cocoon pull`s may use at the same moment.
//
//   ROOT/images/<hex>.sqsh   the filesystem          ROOT/refs/<hash>  tag -> digest
//   ROOT/images/<hex>.json   what it is (the commit marker: written last)
//   ROOT/locks/<hex>.lock    flock'ed by the one process importing <hex>; never unlinked
//   ROOT/tmp/<hex>.<host>.<pid>/   work in progress; removed by the next lock holder
//
// An entry is visible only when complete: built in tmp/, fsync'ed, renamed into images/.
// A shared cache is the same layout in a directory the admin made readable to all (or to
// a group) and fills with `COCOON_CACHE_DIR=DIR cocoon pull`; users only read it.
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

namespace cocoon {

struct CachedImage {
    std::string digest;       // manifest digest, the key
    std::string squashfs;     // absolute path of the .sqsh
    std::string reference;    // canonical name it was imported as
    std::string config;       // the image configuration (OCI config JSON), may be empty
    uint64_t size = 0;        // bytes of the .sqsh
    time_t last_used = 0;
};

class ImageCache {
public:
    enum class Access {
        ReadWrite, // the user's own cache: created as needed (mode 0700)
        ReadOnly,  // a shared cache the admin fills: only looked up
    };
    // Opens the cache at `root`, as the calling user.
    explicit ImageCache(std::string root, Access access = Access::ReadWrite);

    const std::string& root() const { return root_; }

    std::optional<CachedImage> find(const std::string& digest) const;
    std::vector<CachedImage> list() const;

    // Tag (or any key) -> digest, for cheap re-resolution and offline use.
    std::optional<std::string> lookup_ref(const std::string& key) const;
    void remember_ref(const std::string& key, const std::string& digest);

    // Returns the entry for `digest`, building it with `build(work_dir)` when absent.
    // `build` must leave work_dir/image.sqsh and return the image configuration JSON. Only
    // one process builds a digest at a time; the others wait and then use its result.
    CachedImage import(const std::string& digest, const std::string& reference,
                       const std::function<std::string(const std::string&)>& build);

    // Marks an entry used now (least-recently-used order for eviction).
    void touch(const std::string& digest) const;

    // Removes an entry; running containers keep their open file. False when absent.
    bool remove(const std::string& digest);

    // Removes least recently used entries until the cache holds at most `max_bytes`.
    // Entries in use (a container holds a shared lock on the squashfs file) and entries
    // being imported are skipped. Returns the digests removed.
    std::vector<std::string> evict(uint64_t max_bytes);

private:
    std::string path(const std::string& dir, const std::string& name) const;
    std::string root_;
};

} // namespace cocoon
