// The parts of an OCI image configuration that shape the task: environment and working
// directory (Entrypoint/Cmd are kept for a later --container-entrypoint).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cocoon {

struct ImageConfig {
    std::vector<std::pair<std::string, std::string>> env; // in image order
    std::string working_dir;
    std::vector<std::string> entrypoint;
    std::vector<std::string> cmd;
};

// Parses the JSON of an image configuration; empty text gives an empty config. Throws
// Error for malformed JSON.
ImageConfig parse_image_config(const std::string& json_text);

// The variables to set for the tasks, pyxis semantics: the image's values win over the
// job's, except for the names in `keep` (--container-env), which keep the job's value when
// the job has one.
std::vector<std::pair<std::string, std::string>>
image_environment(const ImageConfig& config,
                  const std::function<std::optional<std::string>(const std::string&)>& job_value,
                  const std::vector<std::string>& keep);

// The locale variables (LANG, LANGUAGE, LC_ALL, LC_CTYPE, ... LC_IDENTIFICATION) are one
// setting. When the image's Env sets any of them, the job's other locale variables are left
// out of the container: a host LC_ALL or LC_CTYPE would override the image's LANG with a
// locale the image may not have ("cannot change locale"). Names in `keep`
// (--container-env) stay. Returns the job's variables to unset; none when the image sets
// no locale variable (the job's then pass through, as under pyxis).
std::vector<std::string> dropped_locale_variables(
    const ImageConfig& config,
    const std::function<std::optional<std::string>(const std::string&)>& job_value,
    const std::vector<std::string>& keep);

// Whether `name` is one of those locale variables.
bool is_locale_variable(const std::string& name);

// Parses a --container-env value: NAME[,NAME...]; throws Error naming a bad name.
std::vector<std::string> parse_env_names(const std::string& value);

} // namespace cocoon
