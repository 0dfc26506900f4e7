// --container-entrypoint, pyxis semantics: the image's Entrypoint runs once per container,
// inside it, as the user; what it exports reaches every task. It is started with
// "/bin/sh -c 'exec env -0'" as its arguments, so an entrypoint that ends with
// `exec "$@"` hands over to a shell that prints the environment it was given.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cocoon/config.h"
#include "cocoon/image_config.h"
#include "cocoon/spec.h"

namespace cocoon {

// The environment the entrypoint starts with: the job's, with the image's Env applied.
std::vector<std::string> entrypoint_input(const ImageConfig& image, const ContainerSpec& spec);

// Runs the entrypoint in the calling process's (container) root, under the seccomp filter
// of `seccomp` like every task, and returns the environment it ended with. What it prints
// (stdout and stderr, at most max_entrypoint_log bytes) goes to `log` when given, else
// nowhere; `log` is filled also when it fails. Throws Error with its exit status when it
// fails.
constexpr size_t max_entrypoint_log = 64 << 10;
std::vector<std::string> run_entrypoint(const ImageConfig& image, const ContainerSpec& spec,
                                        const std::vector<std::string>& input,
                                        const Config::Seccomp& seccomp, std::string* log = nullptr);

// The variables of `after` that are new or different from `before` (NAME=VALUE lists).
std::vector<std::pair<std::string, std::string>>
environment_changes(const std::vector<std::string>& before, const std::vector<std::string>& after);

} // namespace cocoon
