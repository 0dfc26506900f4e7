#include "config/config_wire.h"

#include <optional>

#include "cocoon/error.h"
#include "util/text.h"

// An optional field travels as null or as its value.
namespace nlohmann {
template <typename T>
struct adl_serializer<std::optional<T>> {
    static void to_json(json& out, const std::optional<T>& value)
    {
        out = value ? json(*value) : json(nullptr);
    }
    static void from_json(const json& in, std::optional<T>& value)
    {
        value = in.is_null() ? std::nullopt : std::optional<T>(in.template get<T>());
    }
};
} // namespace nlohmann

namespace cocoon {

// Every field of every struct of cocoon/config.h is listed here: the unit test
// Config.TheWireCarriesEveryField compares a round trip of a configuration that sets them
// all, so a field left out fails there.
NLOHMANN_JSON_SERIALIZE_ENUM(Module::When, {{Module::When::Always, "always"},
                                            {Module::When::Requested, "requested"},
                                            {Module::When::Gpus, "gpus"}})
NLOHMANN_JSON_SERIALIZE_ENUM(Module::AbiCheck::Policy,
                             {{Module::AbiCheck::Policy::Major, "major"},
                              {Module::AbiCheck::Policy::Full, "full"},
                              {Module::AbiCheck::Policy::Strict, "strict"}})
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Module::Bind, source, destination, read_only, optional)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Module::File, destination, content)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Module::AbiCheck, policy, replace)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Module::DriverVersion, file, pattern, libraries)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Module, when, optional, device_root, devices, binds, libraries,
                                   library_dirs, executables, plugins, files, set_environment,
                                   prepend_environment, pass_environment, renumber_gpus, abi_check,
                                   driver_version)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Config::Registry, insecure, mirrors)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Config::Seccomp, enabled, deny, allow)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Config, squashfuse, mount_home, mount_workdir, host_files,
                                   writable_root, writable_size, default_registry, cache_dir,
                                   cache_max_size, shared_caches, shared_cache_owner, kernel_mount,
                                   kernel_mount_linger, warm_mount_linger, warm_mount_across_jobs,
                                   tag_check_interval, srun_resolves_tags, tar2sqfs, image_max_size,
                                   image_max_entries, image_max_path_length, transfer_timeout,
                                   transfer_stall_timeout, transfer_retries, registries, seccomp,
                                   modules)

nlohmann::json config_to_json(const Config& config)
{
    return config;
}

Config config_from_json(const nlohmann::json& json)
{
    return json.get<Config>();
}

namespace {

// A field's key as cocoon.yaml writes it, where the wire names it otherwise.
std::string yaml_key(const std::string& field)
{
    for (auto [wire, yaml] : {std::pair{"set_environment", "environment: set"},
                              std::pair{"prepend_environment", "environment: prepend"},
                              std::pair{"pass_environment", "environment: pass"}})
        if (field == wire)
            return yaml;
    return field;
}

// Where in `value` the first string that is not UTF-8 is, as cocoon.yaml's keys
// ("modules: gpu: libraries"), or nothing.
std::optional<std::string> non_utf8_place(const nlohmann::json& value, const std::string& place)
{
    if (value.is_string())
        return valid_utf8(value.get_ref<const std::string&>()) ? std::nullopt
                                                               : std::optional(place);
    if (value.is_array()) {
        for (const auto& item : value)
            if (auto found = non_utf8_place(item, place))
                return found;
    } else if (value.is_object()) {
        for (const auto& [key, item] : value.items()) {
            std::string inner = place.empty() ? key : place + ": " + yaml_key(key);
            if (!valid_utf8(key))
                return place.empty() ? "a key" : place + ": a key";
            if (auto found = non_utf8_place(item, inner))
                return found;
        }
    }
    return std::nullopt;
}

} // namespace

void require_utf8_values(const Config& config)
{
    if (auto place = non_utf8_place(config_to_json(config), ""))
        fail("{}: a value is not UTF-8: write the file in UTF-8", *place);
}

} // namespace cocoon
