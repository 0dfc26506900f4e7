// libarchive's objects, owned: the importer's readers and writer and the tests' share
// these, and an error's text.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>

namespace cocoon {

struct ReadArchiveDeleter {
    void operator()(archive* a) const noexcept { archive_read_free(a); }
};
struct WriteArchiveDeleter {
    void operator()(archive* a) const noexcept { archive_write_free(a); }
};
struct ArchiveEntryDeleter {
    void operator()(archive_entry* entry) const noexcept { archive_entry_free(entry); }
};

using ReadArchive = std::unique_ptr<archive, ReadArchiveDeleter>;
using WriteArchive = std::unique_ptr<archive, WriteArchiveDeleter>;
using ArchiveEntry = std::unique_ptr<archive_entry, ArchiveEntryDeleter>;

// archive_error_string(a), never null.
inline std::string archive_error(archive* a)
{
    const char* message = archive_error_string(a);
    return message ? message : "unknown libarchive error";
}

} // namespace cocoon
