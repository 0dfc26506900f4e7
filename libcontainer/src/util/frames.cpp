#include "util/frames.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

#include "cocoon/error.h"
#include "util/sys.h"

namespace cocoon::sys {

namespace {

constexpr size_t max_header = 64;

bool valid_type(const std::string& type)
{
    if (type.empty() || type.size() > 32)
        return false;
    for (char c : type)
        if (!std::islower(static_cast<unsigned char>(c)) && c != '-')
            return false;
    return true;
}

// Reads exactly `size` bytes; false at end of stream.
bool read_exactly(int fd, char* data, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = read(fd, data + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("cannot read from the container's holder");
        if (n == 0)
            return false;
        done += static_cast<size_t>(n);
    }
    return true;
}

} // namespace

void write_frame(int fd, const std::string& type, const std::string& payload)
{
    std::string data = fmt::format("{} {}\n", type, payload.size()) + payload;
    size_t done = 0;
    while (done < data.size()) {
        // On a socket, a peer that is gone is an error here, never a SIGPIPE that would
        // end the caller (slurmstepd).
        ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("cannot write to the container's holder");
        done += static_cast<size_t>(n);
    }
}

void write_frame_raw(int fd, const char* type, const char* payload) noexcept
{
    char buffer[1200];
    size_t type_length = strnlen(type, 32);
    size_t length = strnlen(payload, 1024);
    int header =
        snprintf(buffer, sizeof(buffer), "%.*s %zu\n", static_cast<int>(type_length), type, length);
    if (header < 0)
        return;
    memcpy(buffer + header, payload, length);
    (void)!write(fd, buffer, static_cast<size_t>(header) + length);
}

Frame read_frame(int fd, size_t max_payload)
{
    std::string header;
    char c = 0;
    for (;;) {
        if (!read_exactly(fd, &c, 1)) {
            if (header.empty())
                return {};
            fail("the container's holder ended inside a message");
        }
        if (c == '\n')
            break;
        header.push_back(c);
        if (header.size() > max_header)
            fail("the container's holder sent a malformed message");
    }
    auto space = header.find(' ');
    Frame frame;
    frame.type = header.substr(0, space);
    std::string length_text = space == std::string::npos ? "" : header.substr(space + 1);
    if (!valid_type(frame.type) || length_text.empty() || length_text.size() > 12 ||
        length_text.find_first_not_of("0123456789") != std::string::npos)
        fail("the container's holder sent a malformed message");
    size_t length = std::stoul(length_text);
    if (length > max_payload)
        fail("the container's holder sent a '{}' message of {} bytes (at most {} accepted)",
             frame.type, length, max_payload);
    frame.payload.resize(length);
    if (!read_exactly(fd, frame.payload.data(), length))
        fail("the container's holder ended inside a message");
    return frame;
}

} // namespace cocoon::sys
