// The log pipe: how a holder's messages reach the log after the container is ready.
//
// Until "ready" the holder sends its log as frames (util/frames.h), which its parent
// reads. After "ready" the parent (slurmstepd in the plugin) reads no more frames; it only
// keeps the read end of a pipe that is the holder's stderr, and drains it at the end of
// the step (Holder::stop) into its own log. The holder writes there what it logs after
// "ready" and forwards what its children (squashfuse) print on their stderr.
//
// The pipe is non-blocking on both ends: a writer must never wait on a reader that only
// drains at the end, or a full pipe would stop squashfuse, and with it every task reading
// the image. What does not fit is dropped and counted. Room for two lines is kept free:
// at the first drop a line says that what follows is left out (in the plugin the step's
// end may kill the holder before it can say more), and at the end one gives the count.
// Each line goes out in one write() of at most PIPE_BUF bytes, so lines of several
// writers never interleave. Control characters are escaped by the reader (it must treat
// the text as hostile anyway), not here, so they are not escaped twice.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "cocoon/unique_fd.h"

namespace cocoon::sys {

// The longest line written to the log pipe, its prefix included (below PIPE_BUF).
constexpr size_t max_log_pipe_line = 1024;

// Writes "SOURCE: LINE\n" ("LINE\n" with an empty source), cut to max_log_pipe_line, to
// the non-blocking pipe `fd` in one write, unless that would leave less than `keep_free`
// bytes free in it. False when it was not written.
bool write_log_line(int fd, std::string_view source, std::string_view line,
                    size_t keep_free = 0) noexcept;

// A writer of the log pipe that counts what it drops, as described above.
class LogPipeWriter {
public:
    LogPipeWriter(std::string source, int fd)
        : source_(std::move(source))
        , fd_(fd)
    {}
    void write(std::string_view line) noexcept;
    // Writes how many lines were dropped, when there were any.
    void finish() noexcept;
    size_t dropped() const noexcept { return dropped_; }

private:
    std::string source_;
    int fd_;
    size_t dropped_ = 0;
};

// Copies what a child writes on `from` (its stderr) to `to`, a line at a time with
// `source` before each; counts the lines that did not fit.
class OutputForwarder {
public:
    OutputForwarder(std::string source, UniqueFd from, int to)
        : to_(std::move(source), to)
        , from_(std::move(from))
    {}

    // The descriptor to poll for input; -1 once the child's end is closed.
    int fd() const noexcept { return from_.get(); }

    // Reads what is there (one read) and writes its complete lines; at the end of the
    // input, also the last incomplete one. Never blocks on `to`. True when it read
    // something (there may be more).
    bool pump() noexcept;

    // Reads until the end of the input or until nothing more is waiting (the input is
    // made non-blocking), writes what remains, then, when lines were dropped, a line
    // saying how many.
    void finish() noexcept;

    size_t dropped() const noexcept { return to_.dropped(); }

private:
    LogPipeWriter to_;
    UniqueFd from_;
    std::string partial_; // the start of a line whose end has not arrived
};

} // namespace cocoon::sys
