// Versions of ABI-stable libraries (MPICH's libmpi.so.12 family) and the policies of a
// module's abi_check that decide whether a host library may replace the image's. Pure.
//
// A version is libtool's: soname major, interface age, revision (libmpich.so.12.2.2). It is
// taken, in this order, from
//   1. MPICH's exported constant MPII_Version_ABI ("current:revision:age", "14:2:2" is
//      12.2.2): compiled into the library by its own build, so it survives a library
//      copied without its symlinks or renamed, as images often have them;
//   2. the name of the file the soname leads to (libmpich.so.12.2.2): what libtool
//      installs, also for other implementations of the MPICH ABI;
//   3. the soname itself (libmpi.so.12): the major version only.
// The implementation's release (MPII_Version_string, "4.0.2") is shown and compared by the
// strict policy.
#pragma once

#include <optional>
#include <regex>
#include <string>

#include "cocoon/config.h"
#include "cocoon/plan.h"

namespace cocoon {

using AbiPolicy = Module::AbiCheck::Policy;

std::optional<AbiPolicy> parse_abi_policy(const std::string& name);
const char* abi_policy_name(AbiPolicy policy);

// "14:2:2" (libtool's current:revision:age) -> 12.2.2; nullopt when malformed.
std::optional<LibraryVersion> version_from_libtool_abi(const std::string& text);

// The numbers after ".so." in a file name or soname: "libmpich.so.12.2.2" -> 12.2.2,
// "libmpi.so.12" -> 12; empty numbers when there are none.
LibraryVersion version_from_file_name(const std::string& name);

// "12.2.2 (MPICH 4.0.2)", "12", "unknown".
std::string format_library_version(const LibraryVersion& version);

// Why the host's library may not replace the image's under `policy` ("policy 'full' needs
// ..."); empty when it may.
std::string abi_mismatch(AbiPolicy policy, const LibraryVersion& image, const LibraryVersion& host);

// driver_version: the first group of `pattern` searched in `text` (the driver's version
// file); nullopt when the pattern does not match or its group matched nothing.
std::optional<std::string> driver_version_from_text(const std::string& text,
                                                    const std::regex& pattern);

// Whether the real file name of a driver library ("libcuda.so.535.104.05") is of the
// driver's `version`: it ends with ".so.<version>".
bool library_has_driver_version(const std::string& file_name, const std::string& version);

} // namespace cocoon
