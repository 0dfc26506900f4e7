#include "cocoon/config.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
#include "cocoon_build_config.h"
#include "config/config_wire.h"
#include "modules/library_abi.h"
#include "runtime/seccomp.h"
#include "util/safe_dir.h"
#include "util/sys.h"
#include "util/text.h"

namespace cocoon {

namespace {

const std::set<std::string> known_registry_keys = {"insecure", "mirrors"};
const std::set<std::string> known_seccomp_keys = {"enabled", "deny", "allow"};
const std::set<std::string> known_module_keys = {
    "when",        "optional",     "device_root",   "devices",        "binds",
    "libraries",   "library_dirs", "executables",   "plugins",        "files",
    "environment", "abi_check",    "renumber_gpus", "driver_version",
};
const std::set<std::string> known_driver_version_keys = {"file", "pattern", "libraries"};
const std::set<std::string> known_abi_check_keys = {"policy", "replace"};

const std::set<std::string> known_bind_keys = {"source", "destination", "flags"};
const std::set<std::string> known_file_keys = {"destination", "content"};
const std::set<std::string> known_environment_keys = {"set", "prepend", "pass"};
const std::map<std::string, Module::When> when_names = {
    {"always", Module::When::Always},
    {"requested", Module::When::Requested},
    {"gpus", Module::When::Gpus},
};

std::string known_keys_text(const std::set<std::string>& keys)
{
    std::string text;
    for (const auto& key : keys)
        text += (text.empty() ? "" : ", ") + key;
    return text;
}

void check_keys(const YAML::Node& map, const std::set<std::string>& keys, const std::string& where)
{
    for (const auto& entry : map) {
        auto key = entry.first.as<std::string>();
        if (!keys.contains(key))
            fail("{}unknown key '{}' (known keys: {})", where, key, known_keys_text(keys));
    }
}

// "500M", "20G", "1T" or a number of bytes.
uint64_t parse_size(const std::string& text, const std::string& key)
{
    size_t end = 0;
    unsigned long long number = 0;
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text.front())))
        fail("{}: '{}' is not a size (give bytes or a number with K, M, G or T)", key, text);
    try {
        number = std::stoull(text, &end);
    } catch (const std::exception&) {
        fail("{}: '{}' is not a size (give bytes or a number with K, M, G or T)", key, text);
    }
    std::string suffix = text.substr(end);
    const std::map<std::string, unsigned> shifts = {
        {"", 0}, {"K", 10}, {"M", 20}, {"G", 30}, {"T", 40}};
    auto shift = shifts.find(suffix);
    if (shift == shifts.end())
        fail("{}: '{}' is not a size (give bytes or a number with K, M, G or T)", key, text);
    return static_cast<uint64_t>(number) << shift->second;
}

// A whole number of at least `minimum` (caps: 0 would refuse every image or transfer).
uint64_t parse_count(const std::string& text, const std::string& key, uint64_t minimum = 1)
{
    size_t end = 0;
    unsigned long long number = 0;
    try {
        if (!text.empty() && std::isdigit(static_cast<unsigned char>(text.front())))
            number = std::stoull(text, &end);
    } catch (const std::exception&) {
        end = 0;
    }
    if (end == 0 || end != text.size() || number < minimum)
        fail("{}: '{}' is not a whole number of at least {}", key, text, minimum);
    return number;
}

// "90", "90s", "30m", "2h": seconds, at least 1.
uint64_t parse_duration(const std::string& text, const std::string& key)
{
    const std::map<char, uint64_t> units = {{'s', 1}, {'m', 60}, {'h', 3600}};
    auto unit = text.empty() ? units.end() : units.find(text.back());
    std::string number = unit == units.end() ? text : text.substr(0, text.size() - 1);
    uint64_t factor = unit == units.end() ? 1 : unit->second;
    try {
        uint64_t value = parse_count(number, key);
        if (value > (uint64_t{1} << 31) / factor)
            fail("too long");
        return value * factor;
    } catch (const Error&) {
        fail("{}: '{}' is not a duration (give seconds, or a whole number followed by s, m or "
             "h: 90, 30m, 2h)",
             key, text);
    }
}

// A size of at least 1 byte.
uint64_t parse_cap_size(const std::string& text, const std::string& key)
{
    uint64_t size = parse_size(text, key);
    if (size == 0)
        fail("{}: must be more than 0", key);
    return size;
}

Config::Registry parse_registry(const YAML::Node& node, const std::string& name)
{
    std::string where = fmt::format("registries: {}: ", name);
    if (!node.IsMap())
        fail("{}must be a mapping (insecure, mirrors)", where);
    check_keys(node, known_registry_keys, where);
    Config::Registry registry;
    if (node["insecure"])
        registry.insecure = node["insecure"].as<bool>();
    if (node["mirrors"]) {
        if (!node["mirrors"].IsSequence())
            fail("{}mirrors: must be a list of host[:port]", where);
        for (const auto& mirror : node["mirrors"])
            registry.mirrors.push_back(mirror.as<std::string>());
    }
    return registry;
}

std::vector<std::string> syscall_names(const YAML::Node& node, const std::string& key)
{
    if (!node.IsSequence())
        fail("{}: must be a list of system call names", key);
    std::vector<std::string> names;
    for (const auto& item : node) {
        auto name = item.as<std::string>();
        if (!is_syscall_name(name))
            fail("{}: unknown system call '{}'", key, name);
        names.push_back(name);
    }
    return names;
}

Config::Seccomp parse_seccomp(const YAML::Node& node)
{
    if (!node.IsMap())
        fail("seccomp: must be a mapping (enabled, deny, allow)");
    check_keys(node, known_seccomp_keys, "seccomp: ");
    Config::Seccomp seccomp;
    if (node["enabled"])
        seccomp.enabled = node["enabled"].as<bool>();
    if (node["deny"])
        seccomp.deny = syscall_names(node["deny"], "seccomp: deny");
    if (node["allow"]) {
        seccomp.allow = syscall_names(node["allow"], "seccomp: allow");
        auto defaults = default_denied_syscalls();
        for (const auto& name : seccomp.allow)
            if (std::find(defaults.begin(), defaults.end(), name) == defaults.end())
                fail("seccomp: allow: '{}' is not in the default deny list ({})", name,
                     fmt::join(defaults, ", "));
    }
    for (const auto& name : seccomp.deny)
        if (std::find(seccomp.allow.begin(), seccomp.allow.end(), name) != seccomp.allow.end())
            fail("seccomp: '{}' is in both deny and allow", name);
    return seccomp;
}

std::string absolute_path_value(const YAML::Node& node, const std::string& key)
{
    auto value = node.as<std::string>();
    if (value.empty() || value.front() != '/')
        fail("{}: must be an absolute path, got '{}'", key, value);
    return value;
}

std::vector<std::string> string_list(const YAML::Node& node, const std::string& key)
{
    if (!node.IsSequence())
        fail("{}: must be a list", key);
    std::vector<std::string> items;
    for (const auto& item : node)
        items.push_back(item.as<std::string>());
    return items;
}

std::map<std::string, std::string> string_map(const YAML::Node& node, const std::string& key)
{
    if (!node.IsMap())
        fail("{}: must map variable names to values", key);
    std::map<std::string, std::string> items;
    for (const auto& entry : node)
        items[entry.first.as<std::string>()] = entry.second.as<std::string>();
    return items;
}

// Paths inside the container (bind destinations, files) must be absolute.
std::string container_path(const std::string& value, const std::string& key)
{
    if (!value.starts_with('/') || value.find("/../") != std::string::npos ||
        value.ends_with("/.."))
        fail("{}: must be an absolute path inside the container, got '{}'", key, value);
    return value;
}

Module::Bind parse_bind(const YAML::Node& node, const std::string& where)
{
    if (!node.IsMap())
        fail("{}must be a mapping (source, destination, flags)", where);
    check_keys(node, known_bind_keys, where);
    Module::Bind bind;
    if (!node["source"])
        fail("{}source: missing", where);
    bind.source = node["source"].as<std::string>();
    if (!bind.source.starts_with('/') && !bind.source.starts_with('{'))
        fail("{}source: must be an absolute path, got '{}'", where, bind.source);
    if (node["destination"])
        bind.destination =
            container_path(node["destination"].as<std::string>(), where + "destination");
    if (node["flags"])
        for (const auto& flag : string_list(node["flags"], where + "flags")) {
            if (flag == "ro" || flag == "rw")
                bind.read_only = flag == "ro";
            else if (flag == "optional")
                bind.optional = true;
            else
                fail("{}flags: unknown flag '{}' (known flags: ro, rw, optional)", where, flag);
        }
    return bind;
}

void parse_module_environment(const YAML::Node& node, Module& module, const std::string& where)
{
    if (!node.IsMap())
        fail("{}must be a mapping (set, prepend, pass)", where);
    check_keys(node, known_environment_keys, where);
    if (node["set"])
        module.set_environment = string_map(node["set"], where + "set");
    if (node["prepend"])
        module.prepend_environment = string_map(node["prepend"], where + "prepend");
    if (node["pass"])
        module.pass_environment = string_list(node["pass"], where + "pass");
}

bool is_soname(const std::string& text)
{
    return !text.empty() && text.find('/') == std::string::npos &&
           text.find(".so") != std::string::npos;
}

Module::AbiCheck parse_abi_check(const YAML::Node& node, const std::string& where)
{
    if (!node.IsMap())
        fail("{}must be a mapping (policy, replace)", where);
    check_keys(node, known_abi_check_keys, where);
    Module::AbiCheck check;
    if (node["policy"]) {
        auto policy = node["policy"].as<std::string>();
        auto found = parse_abi_policy(policy);
        if (!found)
            fail("{}policy: '{}' is not one of major, full, strict", where, policy);
        check.policy = *found;
    }
    if (!node["replace"] || !node["replace"].IsMap() || node["replace"].size() == 0)
        fail("{}replace: must map the image's sonames to the host's (libmpi.so.12: "
             "libmpich.so.12)",
             where);
    for (const auto& entry : node["replace"]) {
        auto image = entry.first.as<std::string>();
        auto host = entry.second.as<std::string>();
        if (!is_soname(image) || !is_soname(host))
            fail("{}replace: '{}: {}' is not a pair of sonames (libmpi.so.12: libmpich.so.12)",
                 where, image, host);
        check.replace[image] = host;
    }
    return check;
}

Module::DriverVersion parse_driver_version(const YAML::Node& node, const Module& module,
                                           const std::string& where)
{
    if (!node.IsMap() || !node["file"] || !node["pattern"] || !node["libraries"])
        fail("{}needs file, pattern and libraries", where);
    check_keys(node, known_driver_version_keys, where);
    Module::DriverVersion driver;
    driver.file = absolute_path_value(node["file"], where + "file");
    driver.pattern = node["pattern"].as<std::string>();
    std::regex pattern;
    try {
        pattern = std::regex(driver.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
        fail("{}pattern: '{}' is not a regular expression ({})", where, driver.pattern, e.what());
    }
    if (pattern.mark_count() < 1)
        fail("{}pattern: '{}' has no group (group 1 is the version)", where, driver.pattern);
    driver.libraries = string_list(node["libraries"], where + "libraries");
    if (driver.libraries.empty())
        fail("{}libraries: must list at least one library", where);
    for (const auto& soname : driver.libraries)
        if (std::find(module.libraries.begin(), module.libraries.end(), soname) ==
            module.libraries.end())
            fail("{}libraries: '{}' is not in the module's libraries", where, soname);
    return driver;
}

Module parse_module(const YAML::Node& node, const std::string& name)
{
    std::string where = fmt::format("modules: {}: ", name);
    if (name.empty() ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos)
        fail("modules: '{}' is not a module name (lower-case letters, digits, '-' and '_')", name);
    if (!node.IsMap())
        fail("{}must be a mapping ({})", where, known_keys_text(known_module_keys));
    check_keys(node, known_module_keys, where);
    Module module;
    if (node["when"]) {
        auto when = node["when"].as<std::string>();
        auto found = when_names.find(when);
        if (found == when_names.end())
            fail("{}when: '{}' is not one of always, requested, gpus", where, when);
        module.when = found->second;
    }
    if (node["optional"])
        module.optional = node["optional"].as<bool>();
    if (node["device_root"])
        module.device_root = absolute_path_value(node["device_root"], where + "device_root");
    if (node["devices"])
        for (const auto& device : string_list(node["devices"], where + "devices"))
            module.devices.push_back(container_path(device, where + "devices"));
    if (node["binds"]) {
        if (!node["binds"].IsSequence())
            fail("{}binds: must be a list", where);
        for (const auto& bind : node["binds"])
            module.binds.push_back(parse_bind(bind, where + "binds: "));
    }
    if (node["libraries"])
        module.libraries = string_list(node["libraries"], where + "libraries");
    for (const auto& soname : module.libraries)
        if (soname.empty() || soname.find('/') != std::string::npos)
            fail("{}libraries: '{}' is not a soname (libfoo.so.1)", where, soname);
    if (node["library_dirs"])
        for (const auto& dir : node["library_dirs"])
            module.library_dirs.push_back(absolute_path_value(dir, where + "library_dirs"));
    if (node["executables"])
        module.executables = string_list(node["executables"], where + "executables");
    if (node["plugins"])
        module.plugins = string_list(node["plugins"], where + "plugins");
    if (node["files"]) {
        if (!node["files"].IsSequence())
            fail("{}files: must be a list", where);
        for (const auto& file : node["files"]) {
            if (!file.IsMap() || !file["destination"] || !file["content"])
                fail("{}files: each file needs destination and content", where);
            check_keys(file, known_file_keys, where + "files: ");
            module.files.push_back(
                {container_path(file["destination"].as<std::string>(), where + "files"),
                 file["content"].as<std::string>()});
        }
    }
    if (node["environment"])
        parse_module_environment(node["environment"], module, where + "environment: ");
    if (node["renumber_gpus"])
        module.renumber_gpus = string_list(node["renumber_gpus"], where + "renumber_gpus");
    if (node["abi_check"])
        module.abi_check = parse_abi_check(node["abi_check"], where + "abi_check: ");
    if (node["driver_version"])
        module.driver_version =
            parse_driver_version(node["driver_version"], module, where + "driver_version: ");
    return module;
}

// The one table of cocoon.yaml's top-level keys: name, type and default as the
// documentation writes them, and how a value is read. Adding a key means adding a row
// here (and the field in Config); etc/cocoon.yaml, cocoon.yaml(5) and
// docs/configuration.md are checked against this table by tests/unit/config_test.cpp.
struct KeyRow {
    const char* name;
    const char* type;
    const char* default_value; // squashfuse and tar2sqfs: the build's (meson options)
    void (*parse)(const YAML::Node& value, Config& config);
};

const KeyRow key_rows[] = {
    {"squashfuse", "absolute path", COCOON_SQUASHFUSE,
     [](const YAML::Node& v, Config& c) { c.squashfuse = absolute_path_value(v, "squashfuse"); }},
    {"mount_home", "boolean", "true",
     [](const YAML::Node& v, Config& c) { c.mount_home = v.as<bool>(); }},
    {"mount_workdir", "boolean", "true",
     [](const YAML::Node& v, Config& c) { c.mount_workdir = v.as<bool>(); }},
    {"host_files", "list of absolute paths", "[/etc/hosts, /etc/resolv.conf]",
     [](const YAML::Node& v, Config& c) {
         if (!v.IsSequence())
             fail("host_files: must be a list of absolute paths");
         c.host_files.clear();
         for (const auto& item : v)
             c.host_files.push_back(absolute_path_value(item, "host_files"));
     }},
    {"writable_root", "boolean", "true",
     [](const YAML::Node& v, Config& c) { c.writable_root = v.as<bool>(); }},
    {"writable_size", "size", "1G",
     [](const YAML::Node& v, Config& c) {
         c.writable_size = parse_cap_size(v.as<std::string>(), "writable_size");
     }},
    {"tar2sqfs", "absolute path", COCOON_TAR2SQFS,
     [](const YAML::Node& v, Config& c) { c.tar2sqfs = absolute_path_value(v, "tar2sqfs"); }},
    {"default_registry", "host[:port]", "docker.io",
     [](const YAML::Node& v, Config& c) { c.default_registry = v.as<std::string>(); }},
    {"cache_dir", "path", "{home}/.cache/cocoon",
     [](const YAML::Node& v, Config& c) {
         c.cache_dir = v.as<std::string>();
         if (!c.cache_dir.starts_with('/') && !c.cache_dir.starts_with("{home}"))
             fail("cache_dir: must be an absolute path or start with {{home}}, got '{}'",
                  c.cache_dir);
     }},
    {"cache_max_size", "size", "0",
     [](const YAML::Node& v, Config& c) {
         c.cache_max_size = parse_size(v.as<std::string>(), "cache_max_size");
     }},
    {"shared_caches", "list of absolute paths", "[]",
     [](const YAML::Node& v, Config& c) {
         if (!v.IsSequence())
             fail("shared_caches: must be a list of absolute paths");
         for (const auto& item : v)
             c.shared_caches.push_back(absolute_path_value(item, "shared_caches"));
     }},
    {"shared_cache_owner", "user name or uid", "root",
     [](const YAML::Node& v, Config& c) {
         c.shared_cache_owner = v.as<std::string>();
         if (c.shared_cache_owner.empty())
             fail("shared_cache_owner: give a user name or uid");
     }},
    {"kernel_mount", "boolean", "false",
     [](const YAML::Node& v, Config& c) { c.kernel_mount = v.as<bool>(); }},
    {"kernel_mount_linger", "duration", "0",
     [](const YAML::Node& v, Config& c) {
         auto text = v.as<std::string>();
         c.kernel_mount_linger = text == "0" ? 0 : parse_duration(text, "kernel_mount_linger");
     }},
    {"warm_mount_linger", "duration", "0",
     [](const YAML::Node& v, Config& c) {
         auto text = v.as<std::string>();
         c.warm_mount_linger = text == "0" ? 0 : parse_duration(text, "warm_mount_linger");
     }},
    {"warm_mount_across_jobs", "boolean", "false",
     [](const YAML::Node& v, Config& c) { c.warm_mount_across_jobs = v.as<bool>(); }},
    {"tag_check_interval", "duration", "0",
     [](const YAML::Node& v, Config& c) {
         auto text = v.as<std::string>();
         c.tag_check_interval = text == "0" ? 0 : parse_duration(text, "tag_check_interval");
     }},
    {"srun_resolves_tags", "boolean", "true",
     [](const YAML::Node& v, Config& c) { c.srun_resolves_tags = v.as<bool>(); }},
    {"image_max_size", "size", "64G",
     [](const YAML::Node& v, Config& c) {
         c.image_max_size = parse_cap_size(v.as<std::string>(), "image_max_size");
     }},
    {"image_max_entries", "number", "1000000",
     [](const YAML::Node& v, Config& c) {
         c.image_max_entries = parse_count(v.as<std::string>(), "image_max_entries");
     }},
    {"image_max_path_length", "number", "4096",
     [](const YAML::Node& v, Config& c) {
         c.image_max_path_length = parse_count(v.as<std::string>(), "image_max_path_length");
     }},
    {"transfer_timeout", "duration", "1h",
     [](const YAML::Node& v, Config& c) {
         c.transfer_timeout = parse_duration(v.as<std::string>(), "transfer_timeout");
     }},
    {"transfer_stall_timeout", "duration", "60s",
     [](const YAML::Node& v, Config& c) {
         c.transfer_stall_timeout = parse_duration(v.as<std::string>(), "transfer_stall_timeout");
     }},
    {"transfer_retries", "number", "3",
     [](const YAML::Node& v, Config& c) {
         c.transfer_retries = parse_count(v.as<std::string>(), "transfer_retries", 0);
         // The waits (1, 2, 4, ... up to 30 s) of ten already add up to three minutes.
         if (c.transfer_retries > 10)
             fail("transfer_retries: {} is more than 10", c.transfer_retries);
     }},
    {"registries", "mapping", "{}",
     [](const YAML::Node& v, Config& c) {
         if (!v.IsMap())
             fail("registries: must map registry names to settings");
         for (const auto& entry : v) {
             auto name = entry.first.as<std::string>();
             c.registries[name] = parse_registry(entry.second, name);
         }
     }},
    {"seccomp", "mapping", "{}",
     [](const YAML::Node& v, Config& c) { c.seccomp = parse_seccomp(v); }},
    {"modules", "mapping of module names to modules", "{}",
     [](const YAML::Node& v, Config& c) {
         if (!v.IsMap())
             fail("modules: must map module names to modules");
         for (const auto& entry : v) {
             auto name = entry.first.as<std::string>();
             c.modules[name] = parse_module(entry.second, name);
         }
     }},
};

const KeyRow* find_key(const std::string& name)
{
    for (const auto& row : key_rows)
        if (name == row.name)
            return &row;
    return nullptr;
}

std::set<std::string> key_names()
{
    std::set<std::string> names;
    for (const auto& row : key_rows)
        names.insert(row.name);
    return names;
}

} // namespace

Config default_config()
{
    Config config;
    config.squashfuse = COCOON_SQUASHFUSE;
    config.tar2sqfs = COCOON_TAR2SQFS;
    return config;
}

Config parse_config(const std::string& text, const std::string& origin)
{
    Config config = default_config();
    try {
        YAML::Node root = YAML::Load(text);
        if (root.IsNull())
            return config;
        if (!root.IsMap())
            fail("the top level must be a mapping of keys to values");
        for (const auto& entry : root) {
            auto name = entry.first.as<std::string>();
            const KeyRow* row = find_key(name);
            if (!row)
                fail("unknown key '{}' (known keys: {})", name, known_keys_text(key_names()));
            try {
                row->parse(entry.second, config);
            } catch (const YAML::BadConversion& e) {
                // yaml-cpp's own message ("bad conversion") names neither key nor type.
                if (entry.second.IsScalar())
                    fail("{}: '{}' is not a {}", name, entry.second.Scalar(), row->type);
                fail("{}: the value at line {} is not what the key takes ({})", name,
                     e.mark.line + 1, row->type);
            }
        }
        // Where the whole file is UTF-8 (nearly always), so is every value.
        if (!valid_utf8(text))
            require_utf8_values(config);
    } catch (const YAML::Exception& e) {
        throw Error(fmt::format("{}: {}", origin, e.what()));
    } catch (const Error& e) {
        throw e.wrap(origin);
    }
    return config;
}

std::vector<std::string> config_keys()
{
    auto names = key_names();
    return {names.begin(), names.end()};
}

std::vector<ConfigKey> config_key_table()
{
    std::vector<ConfigKey> table;
    for (const auto& row : key_rows)
        table.push_back({row.name, row.type, row.default_value});
    return table;
}

Config load_trusted_config(const std::string& path)
{
    auto slash = path.rfind('/');
    if (!path.starts_with('/') || slash + 1 == path.size())
        fail("configuration {}: not an absolute file path", path);
    // Checked on descriptors: the directories up to the file must be root's (or sticky
    // and root's), the file itself root's, not a symbolic link and writable only by root.
    sys::DirRule rule;
    rule.owner = 0;
    rule.what = "the directory of the configuration";
    UniqueFd dir = sys::open_trusted_dir(slash == 0 ? "/" : path.substr(0, slash), rule);
    UniqueFd fd(openat(dir.get(), path.c_str() + slash + 1,
                       O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid()) {
        if (errno == ELOOP)
            fail("configuration {} is a symbolic link: point config= at the file itself", path);
        throw_errno(fmt::format("cannot read configuration {}", path));
    }
    struct stat st {};
    if (fstat(fd.get(), &st) != 0)
        throw_errno(fmt::format("cannot read configuration {}", path));
    if (!S_ISREG(st.st_mode))
        fail("configuration {} is not a regular file", path);
    if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        fail("configuration {} must be owned by root and writable only by root "
             "(chown root {} && chmod go-w {})",
             path, path, path);
    try {
        return parse_config(sys::read_file(fd.get(), 1 << 20), path);
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::TooLarge)
            fail("configuration {} is larger than 1 MiB", path);
        throw;
    }
}

Config load_config(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
        throw_errno(fmt::format("cannot read configuration {}", path));
    std::stringstream text;
    text << in.rdbuf();
    return parse_config(text.str(), path);
}

} // namespace cocoon
