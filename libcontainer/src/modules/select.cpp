// The pure part of modules: which apply, and what they add to the plan and environment.
#include <algorithm>
#include <set>

#include <fmt/ranges.h>

#include "cocoon/error.h"
#include "cocoon/modules.h"

namespace cocoon {

namespace {

// Variables Slurm (GRES) and the GPU runtimes use for the job's GPUs, in order of trust:
// the step's own allocation first.
constexpr const char* gpu_variables[] = {"SLURM_STEP_GPUS", "SLURM_JOB_GPUS",
                                         "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"};

bool valid_module_name(const std::string& name)
{
    return !name.empty() &&
           name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos;
}

// "a,b,,c" -> {"a", "b", "", "c"}
std::vector<std::string> split_commas(const std::string& text)
{
    std::vector<std::string> items;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = std::min(text.find(',', start), text.size());
        items.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return items;
}

bool contains(const std::vector<std::string>& names, const std::string& name)
{
    return std::find(names.begin(), names.end(), name) != names.end();
}

MountOp module_bind(const ResolvedModule::Item& item, const std::string& module)
{
    MountOp op;
    op.kind = OpKind::BindHost;
    op.source = item.source;
    op.target = item.target;
    op.read_only = item.read_only;
    op.device = item.device;
    op.module = module;
    return op;
}

MountOp module_file(std::string target, std::string content, bool executable,
                    const std::string& module)
{
    MountOp op;
    op.kind = OpKind::WriteFile;
    op.target = std::move(target);
    op.content = std::move(content);
    op.executable = executable;
    op.read_only = true;
    op.module = module;
    return op;
}

// /.cocoon/bin/NAME: runs the host program with the host's loader and libraries, whatever
// C library the image has (or none). No --argv0: loaders before glibc 2.33 lack it, and
// the program's name (its basename) stays the same.
std::string launcher_script(const ResolvedModule::Launcher& launcher, const std::string& module)
{
    std::string command = launcher.loader.empty()
                              ? fmt::format("exec {} \"$@\"", launcher.program)
                              : fmt::format("exec {} --library-path {}/lib {} \"$@\"",
                                            launcher.loader, module_host_dir, launcher.program);
    return fmt::format("#!/bin/sh\n# {} from the host (cocoon module {})\n{}\n", launcher.name,
                       module, command);
}

void add_change(Plan& plan, EnvironmentChange change)
{
    for (const auto& existing : plan.environment)
        if (existing.kind == change.kind && existing.name == change.name &&
            existing.value == change.value)
            return;
    plan.environment.push_back(std::move(change));
}

} // namespace

std::vector<std::string> parse_module_names(const std::string& text, const std::string& option)
{
    std::vector<std::string> names;
    for (const auto& name : split_commas(text)) {
        if (!valid_module_name(name))
            fail("{}={}: '{}' is not a module name (give names from cocoon.yaml's modules, "
                 "separated by commas: slurm,munge)",
                 option, printable(text), printable(name));
        if (!contains(names, name))
            names.push_back(name);
    }
    return names;
}

std::vector<unsigned> job_gpus(const std::map<std::string, std::string>& job_environment)
{
    for (const char* variable : gpu_variables) {
        auto found = job_environment.find(variable);
        if (found == job_environment.end() || found->second.empty())
            continue;
        std::vector<unsigned> gpus;
        for (const auto& item : split_commas(found->second)) {
            // UUIDs (GPU-...) and NoDevFiles name no device node.
            if (item.empty() || item.size() > 5 ||
                item.find_first_not_of("0123456789") != std::string::npos)
                continue;
            auto gpu = static_cast<unsigned>(std::stoul(item));
            if (std::find(gpus.begin(), gpus.end(), gpu) == gpus.end())
                gpus.push_back(gpu);
        }
        return gpus; // the first variable that is set decides, even when it names none
    }
    return {};
}

std::string renumber_gpu_list(const std::string& value, const std::vector<unsigned>& gpus)
{
    std::vector<unsigned> in_device_order = gpus;
    std::sort(in_device_order.begin(), in_device_order.end());
    std::vector<std::string> items = split_commas(value);
    for (auto& item : items) {
        if (item.empty() || item.size() > 5 ||
            item.find_first_not_of("0123456789") != std::string::npos)
            continue; // a UUID (GPU-...), MIG-..., NoDevFiles
        auto found = std::find(in_device_order.begin(), in_device_order.end(),
                               static_cast<unsigned>(std::stoul(item)));
        if (found == in_device_order.end())
            return value;
        item = std::to_string(found - in_device_order.begin());
    }
    return fmt::format("{}", fmt::join(items, ","));
}

std::vector<std::string> select_modules(const Config& config, const ModuleRequest& request,
                                        const std::map<std::string, std::string>& job_environment)
{
    std::vector<std::string> known;
    for (const auto& [name, module] : config.modules)
        known.push_back(name);
    for (const auto* list : {&request.enable, &request.disable})
        for (const auto& name : *list)
            if (!config.modules.contains(name))
                fail("unknown module '{}' (cocoon.yaml defines: {})", printable(name),
                     known.empty() ? std::string("none")
                                   : fmt::format("{}", fmt::join(known, ", ")));
    bool has_gpus = !job_gpus(job_environment).empty();
    std::vector<std::string> selected;
    for (const auto& [name, module] : config.modules) {
        if (request.disable_all || contains(request.disable, name))
            continue;
        bool applies = module.when == Module::When::Always ||
                       (module.when == Module::When::Gpus && has_gpus) ||
                       contains(request.enable, name);
        if (applies)
            selected.push_back(name);
    }
    return selected;
}

void plan_modules(const ModuleResolution& resolution, Plan& plan)
{
    std::set<std::string> targets;
    for (const auto& op : plan.ops)
        targets.insert(op.target);
    // Modules may share what they bring (the host's C library for two programs): the
    // first operation for a path wins.
    auto add = [&](MountOp op) {
        if (targets.insert(op.target).second)
            plan.ops.push_back(std::move(op));
    };
    for (const auto& module : resolution.modules) {
        const std::string& name = module.name;
        plan.modules.push_back(name);
        for (const auto& item : module.mounts)
            add(module_bind(item, name));
        for (const auto& item : module.libraries)
            add(module_bind(item, name));
        for (const auto& item : module.host_files)
            add(module_bind(item, name));
        for (const auto& launcher : module.launchers)
            add(module_file(fmt::format("{}/{}", module_bin_dir, launcher.name),
                            launcher_script(launcher, name), true, name));
        for (const auto& file : module.files)
            add(module_file(file.destination, file.content, false, name));
        using Kind = EnvironmentChange::Kind;
        if (!module.libraries.empty())
            add_change(plan, {Kind::Prepend, "LD_LIBRARY_PATH", module_lib_dir, name});
        if (!module.launchers.empty())
            add_change(plan, {Kind::Prepend, "PATH", module_bin_dir, name});
        for (const auto& [variable, value] : module.set_environment)
            add_change(plan, {Kind::Set, variable, value, name});
        for (const auto& [variable, value] : module.prepend_environment)
            add_change(plan, {Kind::Prepend, variable, value, name});
        for (const auto& variable : module.pass_environment)
            add_change(plan, {Kind::Pass, variable, "", name});
        for (const auto& replacement : module.replacements)
            plan.replaced_libraries.push_back(replacement);
    }
    for (const auto& skipped : resolution.skipped)
        plan.skipped.push_back(skipped);
}

std::vector<std::pair<std::string, std::string>>
module_environment(const std::vector<EnvironmentChange>& changes,
                   const std::map<std::string, std::string>& current,
                   const std::map<std::string, std::string>& job_environment)
{
    std::map<std::string, std::string> values = current;
    std::vector<std::string> order;
    for (const auto& change : changes) {
        switch (change.kind) {
        case EnvironmentChange::Kind::Set: values[change.name] = change.value; break;
        case EnvironmentChange::Kind::Prepend: {
            // A step started from inside a container inherits the value already prepended.
            auto existing = values.find(change.name);
            if (existing == values.end() || existing->second.empty())
                values[change.name] = change.value;
            else if (existing->second != change.value &&
                     !existing->second.starts_with(change.value + ":"))
                existing->second = change.value + ":" + existing->second;
            break;
        }
        case EnvironmentChange::Kind::Pass: {
            auto job = job_environment.find(change.name);
            if (job == job_environment.end())
                continue;
            values[change.name] = job->second;
            break;
        }
        }
        if (!contains(order, change.name))
            order.push_back(change.name);
    }
    std::vector<std::pair<std::string, std::string>> result;
    for (const auto& name : order)
        result.emplace_back(name, values[name]);
    return result;
}

std::map<std::string, std::string> environment_map(const std::vector<std::string>& environment)
{
    std::map<std::string, std::string> map;
    for (const auto& entry : environment) {
        auto eq = entry.find('=');
        if (eq != std::string::npos && eq > 0)
            map.emplace(entry.substr(0, eq), entry.substr(eq + 1));
    }
    return map;
}

} // namespace cocoon
