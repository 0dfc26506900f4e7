#include "cocoon/log.h"

#include "cocoon/error.h"

namespace cocoon {

namespace {

// Set once by the program before any work starts; read everywhere after.
LogSink current_sink = nullptr;
LogLevel current_level = LogLevel::Debug;

} // namespace

void set_log_sink(LogSink sink, LogLevel most_detailed) noexcept
{
    current_sink = sink;
    current_level = most_detailed;
}

bool log_enabled(LogLevel level) noexcept
{
    return current_sink != nullptr && level <= current_level;
}

void log_message(LogLevel level, std::string_view message) noexcept
{
    if (!log_enabled(level))
        return;
    try {
        current_sink(level, printable(std::string(message)));
    } catch (...) {
    }
}

void log_output(LogLevel level, std::string_view source, std::string_view text,
                size_t max_bytes) noexcept
{
    if (!log_enabled(level))
        return;
    bool cut = text.size() > max_bytes;
    text = text.substr(0, max_bytes);
    while (!text.empty()) {
        size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        if (!line.empty()) {
            try {
                log_message(level, std::string(source) + ": " + std::string(line));
            } catch (...) {
                return;
            }
        }
        if (end == std::string_view::npos)
            break;
        text.remove_prefix(end + 1);
    }
    if (cut)
        log_message(level, std::string(source) + ": (more output left out)");
}

} // namespace cocoon
