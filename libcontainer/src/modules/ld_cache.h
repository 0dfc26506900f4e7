// The host's dynamic loader cache (/etc/ld.so.cache, as ldconfig writes it), read
// directly rather than by running `ldconfig -p`: nothing is executed, and a lookup is a
// map search.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace cocoon {

class LdCache {
public:
    // Reads `path`; a missing or unreadable cache is empty (lookups then rely on the
    // module's library_dirs). Throws Error for a file that is not an ld.so cache.
    static LdCache load(const std::string& path = "/etc/ld.so.cache");
    // Parses the contents of a cache file (glibc's "glibc-ld.so.cache1.1" format, with or
    // without the old "ld.so-1.7.0" part in front). Throws Error when malformed.
    static LdCache parse(const std::string& data, const std::string& origin);

    // The path of `soname` for this machine's architecture.
    std::optional<std::string> find(const std::string& soname) const;
    size_t size() const { return entries_.size(); }

private:
    std::map<std::string, std::string> entries_;
};

} // namespace cocoon
