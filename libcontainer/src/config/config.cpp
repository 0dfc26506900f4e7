#include "cocoon/config.h"

#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "cocoon/error.h"
#include "cocoon_build_config.h"

namespace cocoon {

namespace {

// The one table of keys: adding a key means adding a row here and in etc/cocoon.yaml.
const std::set<std::string> known_keys = {
    "squashfuse",
    "mount_home",
    "mount_workdir",
    "host_files",
};

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
            auto key = entry.first.as<std::string>();
            if (!known_keys.contains(key))
                fail("unknown key '{}' (known keys: squashfuse, mount_home, mount_workdir, "
                     "host_files)",
                     key);
        }
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
    } catch (const YAML::Exception& e) {
        throw Error(fmt::format("{}: {}", origin, e.what()));
    } catch (const Error& e) {
        throw e.wrap(origin);
    }
    return config;
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
