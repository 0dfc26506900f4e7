#include "cocoon/config.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "cocoon/error.h"
#include "cocoon_build_config.h"
#include "runtime/seccomp.h"

namespace cocoon {

namespace {

// The one table of keys: adding a key means adding a row here and in etc/cocoon.yaml.
const std::set<std::string> known_keys = {
    "squashfuse", "mount_home",       "mount_workdir", "host_files",
    "tar2sqfs",   "default_registry", "cache_dir",     "registries", "cache_max_size",
    "shared_caches", "seccomp",
};

const std::set<std::string> known_registry_keys = {"insecure", "mirrors"};
const std::set<std::string> known_seccomp_keys = {"enabled", "deny", "allow"};

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
    const std::map<std::string, unsigned> shifts = {{"", 0}, {"K", 10}, {"M", 20}, {"G", 30}, {"T", 40}};
    auto shift = shifts.find(suffix);
    if (shift == shifts.end())
        fail("{}: '{}' is not a size (give bytes or a number with K, M, G or T)", key, text);
    return static_cast<uint64_t>(number) << shift->second;
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
        check_keys(root, known_keys, "");
        if (root["squashfuse"])
            config.squashfuse = absolute_path_value(root["squashfuse"], "squashfuse");
        if (root["mount_home"])
            config.mount_home = root["mount_home"].as<bool>();
        if (root["mount_workdir"])
            config.mount_workdir = root["mount_workdir"].as<bool>();
        if (root["host_files"]) {
            if (!root["host_files"].IsSequence())
                fail("host_files: must be a list of absolute paths");
            config.host_files.clear();
            for (const auto& item : root["host_files"])
                config.host_files.push_back(absolute_path_value(item, "host_files"));
        }
        if (root["tar2sqfs"])
            config.tar2sqfs = absolute_path_value(root["tar2sqfs"], "tar2sqfs");
        if (root["default_registry"])
            config.default_registry = root["default_registry"].as<std::string>();
        if (root["cache_dir"]) {
            config.cache_dir = root["cache_dir"].as<std::string>();
            if (!config.cache_dir.starts_with('/') && !config.cache_dir.starts_with("{home}"))
                fail("cache_dir: must be an absolute path or start with {{home}}, got '{}'",
                     config.cache_dir);
        }
        if (root["shared_caches"]) {
            if (!root["shared_caches"].IsSequence())
                fail("shared_caches: must be a list of absolute paths");
            for (const auto& item : root["shared_caches"])
                config.shared_caches.push_back(absolute_path_value(item, "shared_caches"));
        }
        if (root["cache_max_size"])
            config.cache_max_size = parse_size(root["cache_max_size"].as<std::string>(), "cache_max_size");
        if (root["registries"]) {
            if (!root["registries"].IsMap())
                fail("registries: must map registry names to settings");
            for (const auto& entry : root["registries"]) {
                auto name = entry.first.as<std::string>();
                config.registries[name] = parse_registry(entry.second, name);
            }
        }
        if (root["seccomp"])
            config.seccomp = parse_seccomp(root["seccomp"]);
    } catch (const YAML::Exception& e) {
        throw Error(fmt::format("{}: {}", origin, e.what()));
    } catch (const Error& e) {
        throw e.wrap(origin);
    }
    return config;
}

void check_config_trusted(const std::string& path)
{
    struct stat st {};
    if (stat(path.c_str(), &st) != 0)
        throw_errno(fmt::format("cannot read configuration {}", path));
    if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        fail("configuration {} must be owned by root and writable only by root "
             "(chown root {} && chmod go-w {})",
             path, path, path);
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
