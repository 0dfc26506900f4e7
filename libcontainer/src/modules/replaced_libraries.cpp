// Runs as the job user. Inside the container the image's files are hostile input: they are
// only read through the bounded ELF reader, and only regular files are opened.
#include "modules/replaced_libraries.h"

#include <limits.h>
#include <sys/stat.h>

#include <array>
#include <cstdlib>
#include <optional>

#include "cocoon/error.h"
#include "cocoon/modules.h"
#include "modules/elf.h"
#include "modules/ld_cache.h"
#include "modules/library_abi.h"

namespace cocoon {

namespace {

constexpr const char* abi_symbol = "MPII_Version_ABI"; // "14:2:2"
constexpr const char* release_symbol = "MPII_Version_string"; // "4.0.2"
constexpr size_t max_release = 64;

// Where a loader looks when its cache does not name a library.
constexpr std::array default_library_dirs = {
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
};

std::string base_name(const std::string& path)
{
    return path.substr(path.rfind('/') + 1);
}

bool is_regular_file(const std::string& path)
{
    struct stat st {};
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The image's library `soname`: where the image's loader would find it without the
// modules' LD_LIBRARY_PATH. /.cocoon is the modules' own, never the image's.
std::optional<std::string> find_in_image(const std::string& soname)
{
    std::optional<std::string> cached;
    try {
        cached = LdCache::load("/etc/ld.so.cache").find(soname);
    } catch (const Error&) {
        // A malformed cache in the image: its loader ignores it too.
    }
    if (cached && !cached->starts_with("/.cocoon/") && is_regular_file(*cached))
        return cached;
    for (const char* dir : default_library_dirs)
        if (std::string path = fmt::format("{}/{}", dir, soname); is_regular_file(path))
            return path;
    return std::nullopt;
}

} // namespace

LibraryVersion read_library_version(const std::string& path)
{
    auto symbols = read_elf_string_symbols(path, {abi_symbol, release_symbol});
    LibraryVersion version;
    if (auto abi = symbols.find(abi_symbol); abi != symbols.end())
        version = version_from_libtool_abi(abi->second).value_or(LibraryVersion{});
    if (version.numbers.empty()) {
        char real[PATH_MAX];
        if (realpath(path.c_str(), real))
            version = version_from_file_name(base_name(real));
    }
    if (version.numbers.empty())
        version = version_from_file_name(base_name(path));
    if (auto release = symbols.find(release_symbol); release != symbols.end())
        version.release = "MPICH " + printable(release->second.substr(0, max_release));
    return version;
}

void check_replaced_libraries(const std::vector<LibraryReplacement>& replacements)
{
    for (const auto& replacement : replacements) {
        auto image_path = find_in_image(replacement.image_soname);
        if (!image_path)
            continue;
        const auto& module = replacement.module;
        if (replacement.host_path.empty())
            fail("module '{}': the image has {} ({}) and this node has no {} to replace it: "
                 "leave the module out (--no-container-modules={}) or ask your admin",
                 module, replacement.image_soname, *image_path, replacement.host_soname, module);
        LibraryVersion image;
        try {
            image = read_library_version(*image_path);
        } catch (const Error& e) {
            fail("module '{}': cannot read the version of the image's {}: {}", module,
                 replacement.image_soname, e.what());
        }
        std::string why = abi_mismatch(replacement.policy, image, replacement.host_version);
        if (!why.empty())
            fail("module '{}': the image's {} is version {}, the host's {} that would replace it "
                 "is {}; abi_check {}: use an image built for the host's MPI, or leave the "
                 "module out (--no-container-modules={})",
                 module, replacement.image_soname, format_library_version(image),
                 replacement.host_soname, format_library_version(replacement.host_version), why,
                 module);
    }
}

} // namespace cocoon
