#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "cocoon/error.h"
#include "modules/elf.h"
#include "modules/library_abi.h"
#include "modules/replaced_libraries.h"

using namespace cocoon;

namespace {

LibraryVersion version(std::vector<unsigned> numbers, std::string release = {})
{
    return {std::move(numbers), std::move(release)};
}

std::string numbers_of(const std::optional<LibraryVersion>& version)
{
    return version ? format_library_version(*version) : "none";
}

} // namespace

TEST(LibraryAbi, VersionFromLibtoolAbi)
{
    EXPECT_EQ(numbers_of(version_from_libtool_abi("14:2:2")), "12.2.2"); // MPICH 4.0.2
    EXPECT_EQ(numbers_of(version_from_libtool_abi("12:0:0")), "12.0.0");
    for (const char* bad : {"", "14:2", "14:2:2:2", "a:b:c", "1:0:2", "14:-2:2", "14::2"})
        EXPECT_EQ(numbers_of(version_from_libtool_abi(bad)), "none") << bad;
}

TEST(LibraryAbi, VersionFromFileName)
{
    EXPECT_EQ(format_library_version(version_from_file_name("libmpich.so.12.2.2")), "12.2.2");
    EXPECT_EQ(format_library_version(version_from_file_name("libmpi_gnu_123.so.12.0.0")), "12.0.0");
    EXPECT_EQ(format_library_version(version_from_file_name("libmpi.so.12")), "12");
    EXPECT_EQ(format_library_version(version_from_file_name("libmpi.so")), "unknown");
    EXPECT_EQ(format_library_version(version_from_file_name("libmpi.so.12.x")), "unknown");
    EXPECT_EQ(format_library_version(version_from_file_name("libmpi.so.12.")), "unknown");
}

TEST(LibraryAbi, PolicyNames)
{
    for (const char* name : {"major", "full", "strict"})
        EXPECT_STREQ(abi_policy_name(*parse_abi_policy(name)), name);
    EXPECT_FALSE(parse_abi_policy("Major"));
    EXPECT_FALSE(parse_abi_policy(""));
}

TEST(LibraryAbi, MajorNeedsTheSameSonameMajor)
{
    EXPECT_EQ(abi_mismatch(AbiPolicy::Major, version({12, 2, 2}), version({12, 0, 0})), "");
    EXPECT_EQ(abi_mismatch(AbiPolicy::Major, version({12}), version({12, 9, 1})), "");
    EXPECT_EQ(abi_mismatch(AbiPolicy::Major, version({12, 0, 0}), version({40, 30, 4})),
              "policy 'major' needs the same major version");
    EXPECT_EQ(abi_mismatch(AbiPolicy::Major, version({}), version({12})),
              "policy 'major' needs both major versions, and the image's is unknown");
}

TEST(LibraryAbi, FullNeedsTheHostAtLeastAsNew)
{
    EXPECT_EQ(abi_mismatch(AbiPolicy::Full, version({12, 2, 2}), version({12, 2, 2})), "");
    EXPECT_EQ(abi_mismatch(AbiPolicy::Full, version({12, 2, 2}), version({12, 3, 0})), "");
    EXPECT_EQ(abi_mismatch(AbiPolicy::Full, version({12, 2, 2}), version({12, 2, 1})),
              "policy 'full' needs the host's version to be the image's or newer");
    EXPECT_EQ(abi_mismatch(AbiPolicy::Full, version({12, 2, 2}), version({12, 1, 9})),
              "policy 'full' needs the host's version to be the image's or newer");
    EXPECT_EQ(abi_mismatch(AbiPolicy::Full, version({12}), version({12, 2, 2})),
              "policy 'full' needs both full versions, and the image's is unknown");
    EXPECT_EQ(abi_mismatch(AbiPolicy::Full, version({12, 2, 2}), version({13, 0, 0})),
              "policy 'full' needs the same major version");
}

TEST(LibraryAbi, StrictNeedsTheSameVersionAndRelease)
{
    EXPECT_EQ(abi_mismatch(AbiPolicy::Strict, version({12, 2, 2}, "MPICH 4.0.2"),
                           version({12, 2, 2}, "MPICH 4.0.2")),
              "");
    EXPECT_EQ(abi_mismatch(AbiPolicy::Strict, version({12, 2, 2}), version({12, 2, 3})),
              "policy 'strict' needs the very same version and release");
    EXPECT_EQ(abi_mismatch(AbiPolicy::Strict, version({12, 2, 2}, "MPICH 4.0.2"),
                           version({12, 2, 2}, "MPICH 4.0.3")),
              "policy 'strict' needs the very same version and release");
}

TEST(LibraryAbi, FormatsVersionWithRelease)
{
    EXPECT_EQ(format_library_version(version({12, 2, 2}, "MPICH 4.0.2")), "12.2.2 (MPICH 4.0.2)");
    EXPECT_EQ(format_library_version(version({})), "unknown");
}

// Real shared libraries built next to this test (tests/unit/meson.build).
TEST(LibraryAbi, ReadsTheVersionOfALibrary)
{
    std::string dir = FAKE_LIBRARY_DIR;
    // MPICH's exported constants win over the file name (12.4.0).
    LibraryVersion mpich = read_library_version(dir + "/libfakempich.so.12");
    EXPECT_EQ(format_library_version(mpich), "12.1.1 (MPICH 3.9.1)");
    // Without them, the name of the file the soname link leads to.
    LibraryVersion plain = read_library_version(dir + "/libfakempiplain.so.12");
    EXPECT_EQ(format_library_version(plain), "12.3.4");
    EXPECT_TRUE(read_elf_string_symbols("/bin/sh", {"MPII_Version_ABI"}).empty());
    auto symbols = read_elf_string_symbols(dir + "/libfakempich.so.12",
                                           {"MPII_Version_ABI", "MPII_Version_string", "nothing"});
    EXPECT_EQ(symbols.size(), 2u);
    EXPECT_EQ(symbols["MPII_Version_ABI"], "13:1:1");
}

TEST(LibraryAbi, ANonElfFileHasOnlyItsNamesVersion)
{
    auto dir = std::filesystem::temp_directory_path() / "library-abi-test";
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "libmpi.so.12.7.1") << "#!/bin/sh\n";
    EXPECT_EQ(format_library_version(read_library_version(dir / "libmpi.so.12.7.1")), "12.7.1");
    std::filesystem::remove_all(dir);
    EXPECT_THROW(read_library_version("/nonexistent/libmpi.so.12"), Error);
}

TEST(DriverVersion, VersionFromText)
{
    std::regex nvidia("Kernel Module +([0-9.]+)");
    EXPECT_EQ(driver_version_from_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  "
                                       "535.104.05  Sat Aug 19 01:15:15 UTC 2023\n"
                                       "GCC version:  gcc version 12.2.0\n",
                                       nvidia),
              "535.104.05");
    EXPECT_EQ(driver_version_from_text("no driver here\n", nvidia), std::nullopt);
    // A group that matched nothing (or an empty one) is no version.
    EXPECT_EQ(driver_version_from_text("Kernel Module x", std::regex("Kernel Module( [0-9]+)?")),
              std::nullopt);
    EXPECT_EQ(driver_version_from_text("version=", std::regex("version=([0-9.]*)")), std::nullopt);
}

TEST(DriverVersion, LibraryFileName)
{
    EXPECT_TRUE(library_has_driver_version("libcuda.so.535.104.05", "535.104.05"));
    EXPECT_FALSE(library_has_driver_version("libcuda.so.550.54.15", "535.104.05"));
    EXPECT_FALSE(library_has_driver_version("libcuda.so.1", "535.104.05"));
    EXPECT_FALSE(library_has_driver_version("libcuda.so.1535.104.05", "535.104.05"));
    EXPECT_FALSE(library_has_driver_version("libcuda.so.535.104.05", ""));
    EXPECT_FALSE(library_has_driver_version(".so.535.104.05", "535.104.05"));
}
