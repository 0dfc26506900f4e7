#include "modules/ld_cache.h"

#include <fcntl.h>

#include <cstdint>
#include <cstring>

#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
#include "util/sys.h"

namespace cocoon {

namespace {

// From glibc's sysdeps/generic/dl-cache.h (the file format is stable and documented there).
constexpr char old_magic[] = "ld.so-1.7.0";
constexpr char new_magic[] = "glibc-ld.so.cache1.1";
constexpr size_t old_header_size = 16; // magic[11], padding, uint32 nlibs
constexpr size_t old_entry_size = 12; // int32 flags, uint32 key, uint32 value
constexpr size_t new_header_size = 48;
constexpr size_t new_entry_size = 24; // flags, key, value, osversion, uint64 hwcap
constexpr int32_t flag_type_mask = 0x00ff;
constexpr int32_t flag_elf_libc6 = 0x0003;
constexpr int32_t flag_required_mask = 0xff00;
#if defined(__x86_64__)
constexpr int32_t flag_this_arch = 0x0300; // FLAG_X8664_LIB64
#elif defined(__aarch64__)
constexpr int32_t flag_this_arch = 0x0a00; // FLAG_AARCH64_LIB64
#else
#error "add this architecture's ld.so.cache flag"
#endif
constexpr size_t max_cache_size = 64 << 20;

uint32_t u32(const std::string& data, size_t offset)
{
    uint32_t value = 0;
    std::memcpy(&value, data.data() + offset, sizeof(value));
    return value;
}

uint64_t u64(const std::string& data, size_t offset)
{
    uint64_t value = 0;
    std::memcpy(&value, data.data() + offset, sizeof(value));
    return value;
}

} // namespace

LdCache LdCache::parse(const std::string& data, const std::string& origin)
{
    size_t base = 0;
    if (data.compare(0, sizeof(old_magic) - 1, old_magic) == 0) {
        if (data.size() < old_header_size)
            fail("{}: truncated ld.so cache", origin);
        uint64_t old_entries = u32(data, 12);
        base = old_header_size + old_entries * old_entry_size;
        base = (base + 7) & ~size_t{7};
    }
    if (data.size() < base + new_header_size ||
        data.compare(base, sizeof(new_magic) - 1, new_magic) != 0)
        fail("{}: not a glibc ld.so cache (expected {})", origin, new_magic);
    uint64_t count = u32(data, base + 20);
    if (base + new_header_size + count * new_entry_size > data.size())
        fail("{}: truncated ld.so cache", origin);
    auto string_at = [&](uint32_t offset) {
        size_t at = base + offset;
        if (at >= data.size())
            fail("{}: malformed ld.so cache (string outside the file)", origin);
        size_t end = data.find('\0', at);
        if (end == std::string::npos)
            fail("{}: malformed ld.so cache (unterminated string)", origin);
        return data.substr(at, end - at);
    };
    LdCache cache;
    for (uint64_t i = 0; i < count; ++i) {
        size_t entry = base + new_header_size + i * new_entry_size;
        auto flags = static_cast<int32_t>(u32(data, entry));
        if ((flags & flag_type_mask) != flag_elf_libc6 ||
            (flags & flag_required_mask) != flag_this_arch)
            continue;
        // Entries for glibc-hwcaps subdirectories carry a hwcap mask: the plain one is
        // the library every CPU can load.
        if (u64(data, entry + 16) != 0)
            continue;
        cache.entries_.emplace(string_at(u32(data, entry + 4)), string_at(u32(data, entry + 8)));
    }
    return cache;
}

LdCache LdCache::load(const std::string& path)
{
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
        return LdCache();
    return parse(sys::read_file(fd.get(), max_cache_size), path);
}

std::optional<std::string> LdCache::find(const std::string& soname) const
{
    auto found = entries_.find(soname);
    if (found == entries_.end())
        return std::nullopt;
    return found->second;
}

} // namespace cocoon
