// One error type for the whole library: what failed, on which path, and errno.
// Context is prepended as the error travels up ("creating container: mounting /home: ...")
// and the SPANK plugin and the CLI turn it into one line for the user.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace cocoon {

// What went wrong, for a caller that handles one kind of failure in its own way: it tests
// the kind (or the errno), never the message text, which is free to change.
enum class ErrorKind {
    Other,
    TooLarge, // input over a size limit (sys::read_file)
};

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message, int error_number = 0);
    Error(ErrorKind kind, const std::string& message);

    // errno of the failing system call, 0 when the error is not a system error.
    int error_number() const noexcept { return errno_; }
    ErrorKind kind() const noexcept { return kind_; }

    // A new error with "context: " in front of this one's message.
    Error wrap(const std::string& context) const;

private:
    int errno_;
    ErrorKind kind_ = ErrorKind::Other;
};

// Throws Error("<what>: <strerror(errno)>") with the current errno.
[[noreturn]] void throw_errno(const std::string& what);
[[noreturn]] void throw_errno(const std::string& what, int error_number);

// `text` with control characters and backslashes written as \xNN escapes: what a
// message or log line shows of anything a user or an image chose, so that it stays one
// line and cannot drive the terminal.
std::string printable(const std::string& text);

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args)
{
    throw Error(fmt::format(format, std::forward<Args>(args)...));
}

} // namespace cocoon
