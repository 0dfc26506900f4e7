// What the importer's readers of libarchive share: an owned reader, and an error's text.
#pragma once

#include <archive.h>

#include <memory>
#include <string>

namespace cocoon {

struct ReadArchiveDeleter {
    void operator()(archive* a) const noexcept { archive_read_free(a); }
};

using ReadArchive = std::unique_ptr<archive, ReadArchiveDeleter>;

// archive_error_string(a), never null.
inline std::string archive_error(archive* a)
{
    const char* message = archive_error_string(a);
    return message ? message : "unknown libarchive error";
}

} // namespace cocoon
