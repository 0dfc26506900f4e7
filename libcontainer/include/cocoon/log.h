// One log hook for the whole library. Library code says what happened and how much it
// matters; the program that loaded the library decides where it goes: the SPANK plugin to
// Slurm's log (slurm_error/info/verbose/debug, so `srun -v` and SlurmdDebug show it), the
// cocoon command to stderr with -v/-vv, the holder program to its parent as frames. Until a
// sink is set, messages go nowhere: a library must not write on a descriptor it does not own.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace cocoon {

enum class LogLevel { Error, Info, Verbose, Debug };

// Receives each message once, already bounded and free of control characters.
using LogSink = void (*)(LogLevel level, std::string_view message);

// Sets the sink (nullptr: messages are dropped) and the most detailed level passed to it.
// Not thread-safe: set it once, before the work starts.
void set_log_sink(LogSink sink, LogLevel most_detailed = LogLevel::Debug) noexcept;

bool log_enabled(LogLevel level) noexcept;

// Hands the message to the sink; never throws (a failed log must not fail a step).
void log_message(LogLevel level, std::string_view message) noexcept;

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) noexcept
{
    if (!log_enabled(level))
        return;
    try {
        log_message(level, fmt::format(format, std::forward<Args>(args)...));
    } catch (...) {
    }
}

// Text another program wrote (a helper's stderr), made fit for a log: at most `max_bytes`,
// control characters escaped, one message per line, each prefixed with `source: `.
void log_output(LogLevel level, std::string_view source, std::string_view text,
                size_t max_bytes = size_t{16} * 1024) noexcept;

} // namespace cocoon
