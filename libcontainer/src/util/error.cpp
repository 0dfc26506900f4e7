#include "cocoon/error.h"

#include <cstring>

namespace cocoon {

Error::Error(const std::string& message, int error_number)
    : std::runtime_error(message)
    , errno_(error_number)
{}

Error::Error(ErrorKind kind, const std::string& message)
    : std::runtime_error(message)
    , errno_(0)
    , kind_(kind)
{}

Error Error::wrap(const std::string& context) const
{
    Error wrapped(context + ": " + what(), errno_);
    wrapped.kind_ = kind_;
    return wrapped;
}

void throw_errno(const std::string& what, int error_number)
{
    throw Error(what + ": " + std::strerror(error_number), error_number);
}

void throw_errno(const std::string& what)
{
    throw_errno(what, errno);
}

std::string printable(const std::string& text)
{
    std::string escaped;
    escaped.reserve(text.size());
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f || c == '\\')
            escaped += fmt::format("\\x{:02x}", c);
        else
            escaped.push_back(static_cast<char>(c));
    }
    return escaped;
}

} // namespace cocoon
