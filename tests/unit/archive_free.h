// Deleters for libarchive's objects, for std::unique_ptr in the tests that write and read
// layers.
#pragma once

#include <archive.h>
#include <archive_entry.h>

namespace cocoon::test {

struct WriteFree {
    void operator()(archive* a) const { archive_write_free(a); }
};
struct ReadFree {
    void operator()(archive* a) const { archive_read_free(a); }
};
struct EntryFree {
    void operator()(archive_entry* e) const { archive_entry_free(e); }
};

} // namespace cocoon::test
