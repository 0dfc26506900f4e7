// The readers of host files that module resolution parses: /etc/ld.so.cache and the
// dynamic section of ELF files (libraries found through library_dirs and RUNPATH). They
// are not image data, but a malformed file must be refused, never read out of bounds.
// The first byte picks the reader.
#include <sys/mman.h>
#include <unistd.h>

#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
#include "fuzz.h"
#include "modules/elf.h"
#include "modules/ld_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0)
        return 0;
    try {
        if (data[0] & 1) {
            auto cache = cocoon::LdCache::parse(cocoon::fuzz::text_of(data + 1, size - 1), "fuzz");
            (void)cache.find("libc.so.6");
            return 0;
        }
        cocoon::UniqueFd fd(memfd_create("elf", MFD_CLOEXEC));
        if (!fd.valid() || write(fd.get(), data + 1, size - 1) != static_cast<ssize_t>(size - 1))
            __builtin_trap();
        (void)cocoon::read_elf("/proc/self/fd/" + std::to_string(fd.get()));
    } catch (const cocoon::Error&) {
    }
    return 0;
}
