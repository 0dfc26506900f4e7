#include "util/log_pipe.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

namespace cocoon::sys {

static_assert(max_log_pipe_line <= PIPE_BUF, "a line must be written atomically");

namespace {

// Room for the line that says lines are left out, and the one that counts them.
constexpr size_t reserved_lines = 2 * max_log_pipe_line;

// Whether `bytes` more still leave `keep_free` bytes free in the pipe `fd`.
bool fits(int fd, size_t bytes, size_t keep_free) noexcept
{
    if (keep_free == 0)
        return true;
    int queued = 0;
    int capacity = fcntl(fd, F_GETPIPE_SZ);
    if (capacity < 0 || ioctl(fd, FIONREAD, &queued) != 0)
        return true; // not a pipe: the write itself says whether it fits
    return static_cast<size_t>(queued) + bytes + keep_free <= static_cast<size_t>(capacity);
}

} // namespace

bool write_log_line(int fd, std::string_view source, std::string_view line,
                    size_t keep_free) noexcept
{
    // A fixed buffer: no allocation, and a line short enough to be written atomically.
    char buffer[max_log_pipe_line];
    size_t used = 0;
    auto put = [&](std::string_view text) {
        size_t n = std::min(text.size(), sizeof(buffer) - 1 - used);
        std::memcpy(buffer + used, text.data(), n);
        used += n;
    };
    if (!source.empty()) {
        put(source);
        put(": ");
    }
    put(line);
    buffer[used++] = '\n';
    if (!fits(fd, used, keep_free))
        return false;
    ssize_t written;
    do
        written = ::write(fd, buffer, used);
    while (written < 0 && errno == EINTR);
    // A pipe writes up to PIPE_BUF bytes all at once or not at all.
    return written == static_cast<ssize_t>(used);
}

void LogPipeWriter::write(std::string_view line) noexcept
{
    if (write_log_line(fd_, source_, line, reserved_lines))
        return;
    if (dropped_++ == 0)
        write_log_line(fd_, source_, "the log pipe is full: what follows is left out",
                       max_log_pipe_line);
}

void LogPipeWriter::finish() noexcept
{
    if (dropped_ == 0)
        return;
    char message[96];
    std::snprintf(message, sizeof(message), "%zu lines left out (the log pipe was full)", dropped_);
    write_log_line(fd_, source_, message);
}

bool OutputForwarder::pump() noexcept
{
    if (!from_.valid())
        return false;
    char buffer[4096];
    ssize_t n = read(from_.get(), buffer, sizeof(buffer));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return false;
    if (n <= 0) {
        if (!partial_.empty())
            to_.write(partial_);
        partial_.clear();
        from_.reset();
        return false;
    }
    std::string_view text(buffer, static_cast<size_t>(n));
    // A line longer than a log line is cut there: the rest of it is dropped, so what
    // waits for the end of a line stays bounded.
    auto append = [this](std::string_view part) {
        partial_.append(
            part.substr(0, max_log_pipe_line - std::min(partial_.size(), max_log_pipe_line)));
    };
    try {
        for (size_t end; (end = text.find('\n')) != std::string_view::npos;) {
            append(text.substr(0, end));
            to_.write(partial_);
            partial_.clear();
            text.remove_prefix(end + 1);
        }
        append(text);
    } catch (...) {
        partial_.clear();
    }
    return true;
}

void OutputForwarder::finish() noexcept
{
    if (from_.valid()) {
        int flags = fcntl(from_.get(), F_GETFL);
        if (flags >= 0)
            fcntl(from_.get(), F_SETFL, flags | O_NONBLOCK);
    }
    // Bounded: a child still writing cannot keep this loop going forever.
    for (int i = 0; i < 256 && pump(); ++i) {
    }
    if (!partial_.empty())
        to_.write(partial_);
    partial_.clear();
    to_.finish();
}

} // namespace cocoon::sys
