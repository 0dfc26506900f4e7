// A typed, length-limited message protocol over a pipe, between the holder program (which
// reads hostile image data as the job user) and its parent (slurmstepd, which can regain
// root). A frame is a header line "TYPE LENGTH\n" followed by LENGTH bytes of payload. The
// reader refuses an unknown shape, a type it did not expect and a payload over its limit
// before reading it, so nothing the holder sends can make the parent allocate or parse more
// than it chose to.
#pragma once

#include <cstddef>
#include <string>

namespace cocoon::sys {

struct Frame {
    std::string type; // empty: end of stream
    std::string payload;
};

// Writes one frame; throws Error on a failed write.
void write_frame(int fd, const std::string& type, const std::string& payload = {});

// Writes one frame using only a stack buffer and write(2): for a child between fork and
// exec. Payloads longer than 1 KiB are cut. Errors are ignored.
void write_frame_raw(int fd, const char* type, const char* payload) noexcept;

// Reads one frame whose payload is at most `max_payload` bytes. Returns a Frame with an
// empty type at end of stream before a header; throws Error for a malformed header, a
// payload over the limit or a stream that ends inside a frame.
Frame read_frame(int fd, size_t max_payload);

} // namespace cocoon::sys
