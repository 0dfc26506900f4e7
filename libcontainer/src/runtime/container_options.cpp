#include "cocoon/container_options.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <functional>

#include "cocoon/error.h"

namespace cocoon {

namespace {

// The mount flags of --container-mounts, one row each: what a flag does to the request.
struct MountFlag {
    const char* name;
    void (*apply)(MountRequest&);
};

constexpr std::array<MountFlag, 11> mount_flags = {{
    {"ro", [](MountRequest& m) { m.read_only = true; }},
    {"rw", [](MountRequest& m) { m.read_only = false; }},
    {"bind", [](MountRequest& m) { m.recursive = false; }},
    {"rbind", [](MountRequest& m) { m.recursive = true; }},
    {"private", [](MountRequest& m) { m.propagation = "private"; }},
    {"rprivate", [](MountRequest& m) { m.propagation = "rprivate"; }},
    {"slave", [](MountRequest& m) { m.propagation = "slave"; }},
    {"rslave", [](MountRequest& m) { m.propagation = "rslave"; }},
    {"noexec", [](MountRequest& m) { m.noexec = true; }},
    // Every bind is nosuid and nodev already: accepted so pyxis scripts run unchanged.
    {"nosuid", [](MountRequest&) {}},
    {"nodev", [](MountRequest&) {}},
}};

std::string flag_names()
{
    std::string text;
    for (const auto& flag : mount_flags)
        text += (text.empty() ? "" : ", ") + std::string(flag.name);
    return text;
}

std::vector<std::string> split(const std::string& text, char separator)
{
    std::vector<std::string> parts;
    size_t start = 0;
    for (;;) {
        size_t end = text.find(separator, start);
        parts.push_back(text.substr(start, end - start));
        if (end == std::string::npos)
            return parts;
        start = end + 1;
    }
}

bool has_control_character(const std::string& text)
{
    return std::any_of(text.begin(), text.end(),
                       [](unsigned char c) { return std::iscntrl(c) != 0; });
}

bool has_dot_dot(const std::string& path)
{
    for (const auto& part : split(path, '/'))
        if (part == "..")
            return true;
    return false;
}

std::string normal(const std::string& path)
{
    std::string text = std::filesystem::path(path).lexically_normal().string();
    if (text.size() > 1 && text.back() == '/')
        text.pop_back();
    return text;
}

// The container path of `target`, checked: absolute, and no way out of the root. `label`
// names the entry in messages ("" when the value has only this one).
std::string container_path(const std::string& label, const std::string& target)
{
    if (target.empty() || target.front() != '/')
        fail("{}the container path '{}' must be absolute", label, target);
    if (has_dot_dot(target))
        fail("{}the container path '{}' has a '..' component that could lead out of the "
             "container; write the path without it",
             label, target);
    std::string path = normal(target);
    if (path == "/")
        fail("{}cannot mount over the container's root; give a directory in it", label);
    return path;
}

MountRequest parse_mount_entry(const std::string& entry, const std::string& label,
                               const std::string& base_dir)
{
    auto fields = split(entry, ':');
    if (fields.size() > 3)
        fail("{}too many ':' (expected SRC[:DST[:FLAGS]])", label);
    MountRequest mount;
    const std::string& source = fields[0];
    if (source.empty())
        fail("{}the source path is empty (expected SRC[:DST[:FLAGS]])", label);
    mount.source = normal(source.front() == '/' ? source : base_dir + "/" + source);
    std::string target = fields.size() > 1 && !fields[1].empty() ? fields[1] : source;
    if (fields.size() > 1 && fields[1].empty())
        fail("{}the container path is empty (expected SRC[:DST[:FLAGS]])", label);
    if (fields.size() == 1 && source.front() != '/')
        fail("{}a relative source needs a container path (SRC:DST)", label);
    mount.target = container_path(label, target);
    if (fields.size() == 3) {
        bool ro = false, rw = false;
        for (const auto& name : split(fields[2], '+')) {
            auto flag = std::find_if(mount_flags.begin(), mount_flags.end(),
                                     [&](const MountFlag& f) { return name == f.name; });
            if (flag == mount_flags.end())
                fail("{}unknown mount flag '{}' (known: {}; join several with '+')", label, name,
                     flag_names());
            ro = ro || name == "ro";
            rw = rw || name == "rw";
            flag->apply(mount);
        }
        if (ro && rw)
            fail("{}the flags 'ro' and 'rw' contradict each other; give one", label);
    }
    return mount;
}

} // namespace

std::vector<MountRequest> parse_mount_requests(const std::string& text, const std::string& base_dir,
                                               std::vector<std::string>& unmounts)
{
    if (has_control_character(text))
        fail("a control character in a mount list");
    std::vector<MountRequest> mounts;
    auto entries = split(text, ',');
    for (const auto& entry : entries) {
        if (entry.empty())
            fail("an empty entry (expected SRC[:DST[:FLAGS]][,...])");
        std::string label = entries.size() > 1 ? fmt::format("'{}': ", entry) : "";
        if (entry.starts_with("umount:")) {
            unmounts.push_back(container_path(label, entry.substr(7)));
            continue;
        }
        MountRequest mount = parse_mount_entry(entry, label, base_dir);
        for (const auto& other : mounts)
            if (other.target == mount.target)
                fail("{} is the target of two mounts; give each its own", mount.target);
        mounts.push_back(std::move(mount));
    }
    return mounts;
}

UnshareRequest parse_unshare_request(const std::string& text)
{
    UnshareRequest request;
    const std::array<std::pair<const char*, bool UnshareRequest::*>, 3> names = {{
        {"net", &UnshareRequest::net},
        {"ipc", &UnshareRequest::ipc},
        {"uts", &UnshareRequest::uts},
    }};
    for (const auto& word : split(text, ',')) {
        auto name = std::find_if(names.begin(), names.end(),
                                 [&](const auto& row) { return word == row.first; });
        if (name == names.end())
            fail("unknown namespace '{}' (known: net, ipc, uts; separate them with ',')", word);
        request.*(name->second) = true;
    }
    return request;
}

bool parse_boolean_value(const std::string& name, const std::string& text)
{
    std::string lower;
    for (char c : text)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const char* yes : {"1", "true", "yes", "on"})
        if (lower == yes)
            return true;
    for (const char* no : {"0", "false", "no", "off"})
        if (lower == no)
            return false;
    fail("{}='{}' is not a boolean (use 1 or 0, true or false, yes or no)", name, text);
}

void check_container_workdir(const std::string& path)
{
    if (path.empty())
        fail("the working directory is empty; give a path in the container");
    if (has_control_character(path))
        fail("a control character in a path");
}

void check_mount_sources(const std::vector<MountRequest>& mounts)
{
    for (const auto& mount : mounts) {
        struct stat st {};
        if (stat(mount.source.c_str(), &st) == 0)
            continue;
        int error = errno;
        auto parent = std::filesystem::path(mount.source).parent_path().string();
        if (error == ENOENT && stat(parent.c_str(), &st) != 0)
            continue; // perhaps on the compute node only
        throw_errno(fmt::format("cannot mount {} at {}", mount.source, mount.target), error);
    }
}

} // namespace cocoon

namespace cocoon {

namespace {

const std::vector<ContainerOptionInfo> option_table = {
    {"container-mounts", nullptr, "SRC[:DST[:FLAGS]][,...]",
     "[cocoon] bind host files or directories into the container (DST defaults to SRC, a "
     "relative SRC is taken from the working directory); FLAGS joined with '+': ro, rw, bind, "
     "rbind, private, rprivate, slave, rslave, noexec; umount:PATH leaves out a default mount",
     nullptr, "MOUNTS", nullptr},
    {"container-workdir", nullptr, "PATH",
     "[cocoon] where the tasks start in the container (default: the image's WorkingDir, "
     "else the working directory of the step)",
     nullptr, "WORKDIR", nullptr},
    {"container-mount-home", "no-container-mount-home", nullptr,
     "[cocoon] bind the user's home directory (the site's default)",
     "[cocoon] do not bind the user's home directory", "MOUNT_HOME", nullptr},
    {"container-remap-root", "no-container-remap-root", nullptr,
     "[cocoon] be uid 0 in the container (no privilege on the host, despite appearances)",
     "[cocoon] be yourself in the container (the default)", "REMAP_ROOT", nullptr},
    {"container-entrypoint", "no-container-entrypoint", nullptr,
     "[cocoon] run the image's entrypoint when the container starts; the tasks get the "
     "environment it sets up",
     "[cocoon] do not run the image's entrypoint (the default)", "ENTRYPOINT", nullptr},
    {"container-entrypoint-log", nullptr, nullptr,
     "[cocoon] show what the image's entrypoint prints (with --container-entrypoint)", nullptr,
     "ENTRYPOINT_LOG", nullptr},
    {"container-writable", "container-readonly", nullptr,
     "[cocoon] a writable container root (the default): changes stay in memory and go "
     "with the step",
     "[cocoon] keep the image read-only", "WRITABLE", "READONLY"},
    {"container-unshare", nullptr, "net,ipc,uts",
     "[cocoon] give the container private namespaces: net (loopback only), ipc (SysV IPC "
     "and /dev/mqueue), uts (its own hostname)",
     nullptr, "UNSHARE", nullptr},
    {"container-name", nullptr, "NAME[:auto|create|exec|no_exec]",
     "[cocoon] keep this step's container, with its changes, for the later steps of the "
     "job on the node; a step naming it without an image uses it (see spank-cocoon(8))",
     nullptr, "NAME", nullptr},
    {"container-save", nullptr, "PATH",
     "[cocoon] when the step ends, save the container (image and changes) to this squashfs "
     "file, usable later with --container-image=PATH; relative to the working directory",
     nullptr, "SAVE", nullptr},
};

// Where a value came from, for messages: "--container-mounts=VALUE" or "NAME=VALUE".
// Messages carry what was typed as it was; the plugin and the CLI print them through
// printable(), once.
struct Source {
    std::string what;
    std::string value;
    std::string shown() const { return fmt::format("{}={}", what, value); }
};

class Resolver {
public:
    Resolver(const TypedOptions& typed, const EnvLookup& env)
        : typed_(typed)
        , env_(env)
    {}

    // The value of a row that takes an argument: the last one typed, else the environment.
    std::optional<Source> value(const ContainerOptionInfo& row) const
    {
        std::optional<Source> found;
        for (const auto& [name, value] : typed_)
            if (name == row.name)
                found = Source{std::string("--") + row.name, value};
        if (found)
            return found;
        return environment(row.env_suffix);
    }

    // A flag pair: true, false, or unset. Both spellings typed, or the environment saying
    // both, is a contradiction.
    std::optional<bool> flag(const ContainerOptionInfo& row) const
    {
        std::optional<bool> typed;
        for (const auto& [name, value] : typed_) {
            bool on = name == row.name;
            if (!on && !(row.negated && name == row.negated))
                continue;
            if (typed && *typed != on)
                fail("--{} and --{} contradict each other; give one", row.name, row.negated);
            typed = on;
        }
        if (typed)
            return typed;
        auto positive = boolean(row.env_suffix, false);
        auto negative = boolean(row.negated_env_suffix, true);
        if (positive && negative && positive->second != negative->second)
            fail("{} and {} contradict each other; unset one", positive->first.shown(),
                 negative->first.shown());
        if (positive)
            return positive->second;
        if (negative)
            return negative->second;
        return std::nullopt;
    }

private:
    std::optional<Source> environment(const char* suffix) const
    {
        if (!suffix)
            return std::nullopt;
        for (const char* prefix : {"COCOON_CONTAINER_", "PYXIS_CONTAINER_"}) {
            std::string name = std::string(prefix) + suffix;
            if (auto value = env_(name))
                return Source{name, *value};
        }
        return std::nullopt;
    }

    std::optional<std::pair<Source, bool>> boolean(const char* suffix, bool inverted) const
    {
        auto source = environment(suffix);
        if (!source)
            return std::nullopt;
        bool on = parse_boolean_value(source->what, source->value);
        return std::make_pair(*source, inverted ? !on : on);
    }

    const TypedOptions& typed_;
    const EnvLookup& env_;
};

const ContainerOptionInfo& row(const char* name)
{
    for (const auto& info : option_table)
        if (std::string(info.name) == name)
            return info;
    fail("internal error: no container option {}", name);
}

// Runs `parse` on the value of option `name`, when given; errors name what was typed.
void with_value(const Resolver& resolver, const char* name,
                const std::function<void(const std::string&)>& parse)
{
    auto source = resolver.value(row(name));
    if (!source)
        return;
    try {
        parse(source->value);
    } catch (const Error& e) {
        throw e.wrap(source->shown());
    }
}

} // namespace

std::string resolve_save_path(const std::string& text, const std::string& base_dir)
{
    if (text.empty())
        fail("the path is empty; give the squashfs file to write");
    for (char c : text)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            fail("the path has a control character; choose another");
    std::filesystem::path path(text);
    if (path.is_relative())
        path = std::filesystem::path(base_dir) / path;
    path = path.lexically_normal();
    if (!path.has_filename()) {
        std::string dir = text;
        while (!dir.empty() && dir.back() == '/')
            dir.pop_back();
        fail("the path names a directory; give a file in it, such as {}/image.sqsh", dir);
    }
    return path.string();
}

std::optional<std::string> process_environment(const std::string& name)
{
    const char* value = getenv(name.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
}

const std::vector<ContainerOptionInfo>& container_option_table()
{
    return option_table;
}

ResolvedOptions resolve_container_options(const TypedOptions& typed, const EnvLookup& env,
                                          const std::string& base_dir, bool check_sources)
{
    Resolver resolver(typed, env);
    ResolvedOptions resolved;
    ContainerOptions& options = resolved.container;
    with_value(resolver, "container-mounts", [&](const std::string& value) {
        options.mounts = parse_mount_requests(value, base_dir, options.unmounts);
        if (check_sources)
            check_mount_sources(options.mounts);
    });
    with_value(resolver, "container-workdir", [&](const std::string& value) {
        check_container_workdir(value);
        options.workdir = value;
    });
    with_value(resolver, "container-unshare",
               [&](const std::string& value) { options.unshare = parse_unshare_request(value); });
    options.mount_home = resolver.flag(row("container-mount-home"));
    options.remap_root = resolver.flag(row("container-remap-root")).value_or(false);
    resolved.writable = resolver.flag(row("container-writable"));
    resolved.entrypoint = resolver.flag(row("container-entrypoint"));
    options.entrypoint_log = resolver.flag(row("container-entrypoint-log")).value_or(false);
    with_value(resolver, "container-name",
               [&](const std::string& value) { resolved.name = parse_container_name(value); });
    if (auto source = resolver.value(row("container-name")))
        resolved.name_source = source->shown();
    with_value(resolver, "container-save", [&](const std::string& value) {
        resolved.save = resolve_save_path(value, base_dir);
    });
    return resolved;
}

ContainerOptions container_options_for(const ResolvedOptions& resolved, const Config& config)
{
    ContainerOptions options = resolved.container;
    options.writable = resolved.writable.value_or(config.writable_root);
    return options;
}

} // namespace cocoon
