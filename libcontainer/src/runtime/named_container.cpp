#include "cocoon/named_container.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "cocoon/error.h"

namespace cocoon {

namespace {

constexpr std::array<std::pair<const char*, ContainerName::Mode>, 4> modes = {{
    {"auto", ContainerName::Mode::Auto},
    {"create", ContainerName::Mode::Create},
    {"exec", ContainerName::Mode::Exec},
    {"no_exec", ContainerName::Mode::NoExec},
}};

constexpr const char* record_magic = "cocoon-named-container 1";
constexpr size_t max_record_bytes = 4 << 20;

bool name_character(unsigned char c)
{
    return std::isalnum(c) || c == '.' || c == '_' || c == '-';
}

// Fields are NUL-terminated strings, in pairs: a key, then its value. Environment values
// cannot hold a NUL, nor can the other fields.
void put(std::string& out, const std::string& key, const std::string& value)
{
    out += key;
    out += '\0';
    out += value;
    out += '\0';
}

std::pair<std::string, std::string> split_variable(const std::string& text)
{
    auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0)
        fail("malformed named container record: variable '{}'", printable(text.substr(0, 64)));
    return {text.substr(0, eq), text.substr(eq + 1)};
}

unsigned long long parse_number(const std::string& text)
{
    char* end = nullptr;
    errno = 0;
    unsigned long long value = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || !end || *end != '\0' || errno != 0)
        fail("malformed named container record: number '{}'", printable(text.substr(0, 32)));
    return value;
}

} // namespace

ContainerName parse_container_name(const std::string& text)
{
    ContainerName result;
    auto colon = text.find(':');
    result.name = text.substr(0, colon);
    if (result.name.empty())
        fail("the name is empty; give NAME[:auto|create|exec|no_exec]");
    if (result.name.size() > max_container_name)
        fail("the name is longer than {} characters; choose a shorter one", max_container_name);
    if (result.name.front() == '.')
        fail("'{}' starts with '.'; a name is letters, digits, '.', '_' and '-', not starting "
             "with '.'",
             printable(result.name));
    for (char ch : result.name)
        if (auto c = static_cast<unsigned char>(ch); !name_character(c))
            fail("'{}' holds '{}'; a name is letters, digits, '.', '_' and '-'",
                 printable(result.name), printable(std::string(1, static_cast<char>(c))));
    if (colon == std::string::npos)
        return result;
    std::string flag = text.substr(colon + 1);
    for (const auto& [spelling, mode] : modes)
        if (flag == spelling) {
            result.mode = mode;
            return result;
        }
    fail("unknown flag '{}'; the flag is one of auto, create, exec, no_exec", printable(flag));
}

const char* container_name_mode(ContainerName::Mode mode)
{
    for (const auto& [spelling, value] : modes)
        if (value == mode)
            return spelling;
    return "auto";
}

std::string encode_named_record(const NamedContainerRecord& record)
{
    std::string out;
    put(out, "magic", record_magic);
    put(out, "pid", std::to_string(record.pid));
    put(out, "start", std::to_string(record.start_time));
    put(out, "image", record.image);
    put(out, "image-workdir", record.image_workdir);
    const std::array<std::pair<const char*, const EnvironmentPairs*>, 3> lists = {{
        {"image-env", &record.image_environment},
        {"module-env", &record.module_environment},
        {"entrypoint-env", &record.entrypoint_environment},
    }};
    for (const auto& [key, list] : lists)
        for (const auto& [name, value] : *list)
            put(out, key, name + "=" + value);
    return out;
}

NamedContainerRecord decode_named_record(const std::string& text)
{
    if (text.size() > max_record_bytes)
        fail("malformed named container record: larger than {} bytes", max_record_bytes);
    std::vector<std::string> fields;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\0', start);
        if (end == std::string::npos)
            fail("malformed named container record: unterminated field");
        fields.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    if (fields.size() % 2 != 0 || fields.size() < 2 || fields[0] != "magic" ||
        fields[1] != record_magic)
        fail("malformed named container record");
    NamedContainerRecord record;
    for (size_t i = 2; i < fields.size(); i += 2) {
        const std::string& key = fields[i];
        const std::string& value = fields[i + 1];
        if (key == "pid")
            record.pid = static_cast<pid_t>(parse_number(value));
        else if (key == "start")
            record.start_time = parse_number(value);
        else if (key == "image")
            record.image = value;
        else if (key == "image-workdir")
            record.image_workdir = value;
        else if (key == "image-env")
            record.image_environment.push_back(split_variable(value));
        else if (key == "module-env")
            record.module_environment.push_back(split_variable(value));
        else if (key == "entrypoint-env")
            record.entrypoint_environment.push_back(split_variable(value));
        else
            fail("malformed named container record: unknown field '{}'", printable(key));
    }
    if (record.pid <= 0 || record.start_time == 0)
        fail("malformed named container record: no holder");
    return record;
}

unsigned long long process_start_time(pid_t pid) noexcept
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buffer[1024];
    ssize_t size = read(fd, buffer, sizeof(buffer) - 1);
    close(fd);
    if (size <= 0)
        return 0;
    buffer[size] = '\0';
    // The command name (field 2) may hold spaces and parentheses: fields restart after the
    // last ')'. Field 3 is the state, field 22 the start time.
    char* fields = strrchr(buffer, ')');
    if (!fields)
        return 0;
    char state = 0;
    unsigned long long start = 0;
    if (sscanf(fields + 1,
               " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &state, &start) != 2 ||
        state == 'Z' || state == 'X')
        return 0;
    return start;
}

bool named_holder_alive(const NamedContainerRecord& record) noexcept
{
    return record.pid > 0 && record.start_time != 0 &&
           process_start_time(record.pid) == record.start_time;
}

} // namespace cocoon
