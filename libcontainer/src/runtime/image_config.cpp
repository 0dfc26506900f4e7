#include "cocoon/image_config.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "cocoon/error.h"
#include "util/json_limits.h"

namespace cocoon {

namespace {

using json = nlohmann::json;

std::vector<std::string> strings(const json& config, const char* key)
{
    std::vector<std::string> values;
    if (config.contains(key) && config[key].is_array())
        for (const auto& item : config[key])
            if (item.is_string())
                values.push_back(item.get<std::string>());
    return values;
}

bool valid_name(const std::string& name)
{
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front())))
        return false;
    return std::all_of(name.begin(), name.end(),
                       [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

} // namespace

ImageConfig parse_image_config(const std::string& json_text)
{
    ImageConfig result;
    if (json_text.empty())
        return result;
    json document = parse_untrusted_json(json_text, "the image configuration");
    const json config =
        document.is_object() && document.contains("config") && document["config"].is_object()
            ? document["config"]
            : json::object();
    for (const auto& entry : strings(config, "Env")) {
        auto eq = entry.find('=');
        if (eq == std::string::npos || !valid_name(entry.substr(0, eq)))
            continue;
        result.env.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
    }
    if (config.contains("WorkingDir") && config["WorkingDir"].is_string())
        result.working_dir = config["WorkingDir"].get<std::string>();
    result.entrypoint = strings(config, "Entrypoint");
    result.cmd = strings(config, "Cmd");
    return result;
}

std::vector<std::pair<std::string, std::string>>
image_environment(const ImageConfig& config,
                  const std::function<std::optional<std::string>(const std::string&)>& job_value,
                  const std::vector<std::string>& keep)
{
    std::vector<std::pair<std::string, std::string>> result;
    for (const auto& [name, value] : config.env) {
        bool kept = std::find(keep.begin(), keep.end(), name) != keep.end();
        if (kept && job_value(name))
            continue;
        result.emplace_back(name, value);
    }
    return result;
}

namespace {

constexpr const char* locale_variables[] = {
    "LANG",    "LANGUAGE",   "LC_ALL",       "LC_CTYPE",       "LC_NUMERIC",
    "LC_TIME", "LC_COLLATE", "LC_MONETARY",  "LC_MESSAGES",    "LC_PAPER",
    "LC_NAME", "LC_ADDRESS", "LC_TELEPHONE", "LC_MEASUREMENT", "LC_IDENTIFICATION",
};

} // namespace

bool is_locale_variable(const std::string& name)
{
    return std::find(std::begin(locale_variables), std::end(locale_variables), name) !=
           std::end(locale_variables);
}

std::vector<std::string> dropped_locale_variables(
    const ImageConfig& config,
    const std::function<std::optional<std::string>(const std::string&)>& job_value,
    const std::vector<std::string>& keep)
{
    auto set_by_image = [&config](const std::string& name) {
        return std::any_of(config.env.begin(), config.env.end(),
                           [&name](const auto& pair) { return pair.first == name; });
    };
    bool image_sets_locale =
        std::any_of(config.env.begin(), config.env.end(),
                    [](const auto& pair) { return is_locale_variable(pair.first); });
    std::vector<std::string> dropped;
    if (!image_sets_locale)
        return dropped;
    for (const char* name : locale_variables)
        if (!set_by_image(name) && std::find(keep.begin(), keep.end(), name) == keep.end() &&
            job_value(name))
            dropped.emplace_back(name);
    return dropped;
}

std::vector<std::string> parse_env_names(const std::string& value)
{
    std::vector<std::string> names;
    size_t start = 0;
    while (start <= value.size()) {
        size_t comma = value.find(',', start);
        std::string name = value.substr(start, comma - start);
        if (!valid_name(name))
            fail("'{}' is not a variable name (give NAME[,NAME...])", name);
        names.push_back(name);
        if (comma == std::string::npos)
            break;
        start = comma + 1;
    }
    return names;
}

} // namespace cocoon
