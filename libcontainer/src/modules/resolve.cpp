// The part of modules that looks at the host: globs, the job's GPUs, the ld.so cache,
// ELF dependencies, the Slurm configuration. Runs as the job user (in the holder, or in
// `cocoon run`), never in slurmstepd: it reads paths an admin named but also libraries'
// headers and the user-visible Slurm configuration. It executes nothing.
#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cstring>
#include <deque>
#include <fstream>
#include <regex>
#include <set>

#include <fmt/ranges.h>

#include "cocoon/error.h"
#include "cocoon/modules.h"
#include "modules/elf.h"
#include "modules/ld_cache.h"
#include "modules/library_abi.h"
#include "modules/replaced_libraries.h"
#include "util/sys.h"
#include "util/text.h"

namespace cocoon {

namespace {

// The C library's own family: a library for the image's programs must use the image's
// copies (mixing two glibc versions in one process fails), so these never go to
// /.cocoon/lib. Host programs get the host's (in /.cocoon/host).
constexpr std::array libc_family = {
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libresolv.so.2",
    "libutil.so.1",
    "libanl.so.1",
    "libmvec.so.1",
    "libnsl.so.1",
    "libthread_db.so.1",
    "libBrokenLocale.so.1",
    "libc_malloc_debug.so.0",
};

// Where a program named without a path is looked for on the host.
constexpr std::array program_dirs = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                     "/usr/bin",        "/sbin",          "/bin"};

constexpr const char* default_slurm_conf = "/etc/slurm/slurm.conf";
constexpr const char* default_munge_socket = "/run/munge/munge.socket.2";
constexpr size_t max_slurm_conf = 1 << 20;
constexpr size_t max_driver_version_file = 1 << 16;

bool exists(const std::string& path)
{
    struct stat st {};
    return stat(path.c_str(), &st) == 0;
}

bool is_glob(const std::string& text)
{
    return text.find_first_of("*?[") != std::string::npos;
}

std::vector<std::string> expand_glob(const std::string& pattern)
{
    glob_t result{};
    std::vector<std::string> paths;
    if (glob(pattern.c_str(), GLOB_NOSORT, nullptr, &result) == 0)
        for (size_t i = 0; i < result.gl_pathc; ++i)
            paths.emplace_back(result.gl_pathv[i]);
    globfree(&result);
    std::sort(paths.begin(), paths.end());
    return paths;
}

std::string base_name(const std::string& path)
{
    return path.substr(path.rfind('/') + 1);
}

std::string dir_name(const std::string& path)
{
    auto slash = path.rfind('/');
    return slash == 0 ? "/" : path.substr(0, slash);
}

void remove_spaces(std::string& text)
{
    text.erase(std::remove_if(text.begin(), text.end(),
                              [](unsigned char c) { return std::isspace(c) != 0; }),
               text.end());
}

// The munge socket Slurm uses: AuthInfo's socket= in slurm.conf, else munge's default.
std::string munge_socket(const std::string& slurm_conf)
{
    std::ifstream in(slurm_conf);
    std::string line;
    size_t read = 0;
    while (in && read < max_slurm_conf && std::getline(in, line)) {
        read += line.size() + 1;
        line = line.substr(0, line.find('#'));
        auto eq = line.find('=');
        if (eq == std::string::npos)
            continue;
        std::string key = line.substr(0, eq);
        remove_spaces(key);
        std::transform(key.begin(), key.end(), key.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (key != "authinfo")
            continue;
        std::string value = line.substr(eq + 1);
        remove_spaces(value);
        auto at = value.find("socket=");
        if (at != std::string::npos && (at == 0 || value[at - 1] == ','))
            return value.substr(at + 7, value.find(',', at) - at - 7);
    }
    return default_munge_socket;
}

class Variables {
public:
    explicit Variables(const ModuleContext& context)
    {
        auto conf = context.job_environment.find("SLURM_CONF");
        std::string slurm_conf = conf != context.job_environment.end() && !conf->second.empty()
                                     ? conf->second
                                     : default_slurm_conf;
        values_ = {{"slurm_conf", slurm_conf},
                   {"slurm_conf_dir", dir_name(slurm_conf)},
                   {"munge_socket", munge_socket(slurm_conf)},
                   {"cocoon_plugin", context.cocoon_plugin}};
    }

    std::string expand(const std::string& text) const
    {
        std::string result;
        size_t at = 0;
        while (at < text.size()) {
            size_t open = text.find('{', at);
            if (open == std::string::npos) {
                result += text.substr(at);
                break;
            }
            size_t close = text.find('}', open);
            if (close == std::string::npos)
                fail("'{}': unclosed '{{'", text);
            std::string name = text.substr(open + 1, close - open - 1);
            auto found = values_.find(name);
            if (found == values_.end())
                fail("'{}': unknown variable {{{}}} (known: {{munge_socket}}, {{slurm_conf}}, "
                     "{{slurm_conf_dir}}, {{cocoon_plugin}})",
                     text, name);
            result += text.substr(at, open - at) + found->second;
            at = close + 1;
        }
        return result;
    }

private:
    std::map<std::string, std::string> values_;
};

// Finds libraries by soname and walks their DT_NEEDED dependencies.
class LibraryResolver {
public:
    LibraryResolver(const LdCache& cache, const std::vector<std::string>& dirs)
        : cache_(cache)
        , dirs_(dirs)
    {}

    std::optional<std::string> find(const std::string& soname,
                                    const std::vector<std::string>& object_path,
                                    const std::string& origin) const
    {
        if (soname.find('/') != std::string::npos)
            return exists(soname) ? std::optional(soname) : std::nullopt;
        for (const auto& dir : dirs_)
            if (exists(dir + "/" + soname))
                return dir + "/" + soname;
        for (const auto& dir : object_path) {
            std::string expanded =
                replace_all(replace_all(dir, "${ORIGIN}", origin), "$ORIGIN", origin);
            if (exists(expanded + "/" + soname))
                return expanded + "/" + soname;
        }
        return cache_.find(soname);
    }

    // Adds the dependencies of the ELF file `path` (not the file itself) to `out`, by
    // soname. With `with_libc` the C library's family is included; with `lenient` a
    // dependency that cannot be found is left out (a plugin the host itself could not
    // load) instead of failing.
    void add_dependencies(const std::string& path, bool with_libc, bool lenient,
                          std::map<std::string, std::string>& out) const
    {
        std::deque<std::string> queue = {path};
        std::set<std::string> seen = {path};
        while (!queue.empty()) {
            std::string object = queue.front();
            queue.pop_front();
            ElfInfo info = read_elf(object);
            for (const auto& soname : info.needed) {
                if (out.contains(soname) || (!with_libc && is_libc(soname)))
                    continue;
                auto found = find(soname, info.search_path, dir_name(object));
                if (!found) {
                    if (lenient)
                        continue;
                    fail("library {} (needed by {}) is not in the ld.so cache", soname, object);
                }
                out[soname] = *found;
                if (seen.insert(*found).second)
                    queue.push_back(*found);
            }
        }
    }

    static bool is_libc(const std::string& soname)
    {
        return std::find(libc_family.begin(), libc_family.end(), soname) != libc_family.end();
    }

private:
    const LdCache& cache_;
    std::vector<std::string> dirs_;
};

std::string find_program(const std::string& name)
{
    if (name.starts_with('/')) {
        if (!exists(name))
            fail("program {} is missing", name);
        return name;
    }
    for (const char* dir : program_dirs)
        if (std::string path = fmt::format("{}/{}", dir, name); exists(path))
            return path;
    fail("program {} is not installed (looked in {})", name, fmt::join(program_dirs, ", "));
}

class ModuleResolver {
public:
    ModuleResolver(const std::string& name, const Module& module, const ModuleContext& context,
                   const LdCache& cache)
        : module_(module)
        , variables_(context)
        , job_environment_(context.job_environment)
        , gpus_(job_gpus(context.job_environment))
        , libraries_(cache, module.library_dirs)
    {
        resolved_.name = name;
    }

    ResolvedModule resolve()
    {
        for (const auto& device : module_.devices)
            add_device(device);
        for (const auto& bind : module_.binds)
            add_bind(bind);
        add_libraries();
        check_driver_version();
        add_replacements();
        add_executables();
        resolved_.files = module_.files;
        for (const auto& [name, value] : module_.set_environment)
            resolved_.set_environment.emplace_back(name, variables_.expand(value));
        add_renumbered_gpus();
        for (const auto& [name, value] : module_.prepend_environment)
            resolved_.prepend_environment.emplace_back(name, variables_.expand(value));
        resolved_.pass_environment = module_.pass_environment;
        return std::move(resolved_);
    }

private:
    void add_mount(const std::string& source, const std::string& target, bool read_only,
                   bool device)
    {
        resolved_.mounts.push_back({source, target, read_only, device});
    }

    // One device entry: {gpu} and {render_node} expand for each GPU of the job (none:
    // the entry adds nothing); a glob may match nothing; a plain path must exist.
    void add_device(const std::string& entry)
    {
        std::vector<std::string> paths;
        if (entry.find("{gpu}") != std::string::npos ||
            entry.find("{render_node}") != std::string::npos) {
            for (unsigned gpu : gpus_)
                paths.push_back(replace_all(replace_all(entry, "{gpu}", std::to_string(gpu)),
                                            "{render_node}", std::to_string(128 + gpu)));
        } else {
            paths.push_back(entry);
        }
        const std::string& root = module_.device_root;
        for (const auto& path : paths) {
            if (is_glob(path)) {
                for (const auto& match : expand_glob(root + path))
                    add_mount(match, match.substr(root.size()), false, true);
                continue;
            }
            if (!exists(root + path))
                fail("device {} is missing", root + path);
            add_mount(root + path, path, false, true);
        }
    }

    void add_bind(const Module::Bind& bind)
    {
        std::string source = variables_.expand(bind.source);
        std::string destination =
            bind.destination.empty() ? source : variables_.expand(bind.destination);
        if (source.empty() || !exists(source)) {
            if (bind.optional)
                return;
            fail("{} is missing (bind source {})", source.empty() ? bind.source : source,
                 bind.source);
        }
        add_mount(source, destination, bind.read_only, false);
    }

    void add_libraries()
    {
        std::map<std::string, std::string> found;
        for (const auto& soname : module_.libraries) {
            auto path = libraries_.find(soname, {}, "/");
            if (!path)
                fail("library {} is not in the ld.so cache{}", soname,
                     module_.library_dirs.empty()
                         ? std::string()
                         : fmt::format(" or in {}", fmt::join(module_.library_dirs, ", ")));
            found[soname] = *path;
            libraries_.add_dependencies(*path, false, false, found);
        }
        for (const auto& [soname, path] : found)
            resolved_.libraries.push_back({path, fmt::format("{}/{}", module_lib_dir, soname)});
        library_paths_ = std::move(found);
    }

    // driver_version: the libraries it lists, as found above, must be the loaded driver's
    // release (the real file a soname leads to is named <stem>.so.<version>).
    void check_driver_version()
    {
        if (!module_.driver_version)
            return;
        const auto& driver = *module_.driver_version;
        std::optional<std::string> text;
        try {
            text = sys::read_regular_file(driver.file, max_driver_version_file);
        } catch (const Error& e) {
            fail("driver version file {}: {}", driver.file, e.what());
        }
        if (!text)
            fail("driver version file {} is missing (is the driver loaded?)", driver.file);
        auto version = driver_version_from_text(*text, std::regex(driver.pattern));
        if (!version)
            fail("driver version file {} does not match driver_version's pattern '{}'", driver.file,
                 driver.pattern);
        for (const auto& soname : driver.libraries) {
            auto found = library_paths_.find(soname);
            if (found == library_paths_.end())
                continue;
            char real[PATH_MAX];
            if (!realpath(found->second.c_str(), real))
                fail("cannot resolve {} ({}): {}", soname, found->second, std::strerror(errno));
            std::string file = real;
            if (!library_has_driver_version(base_name(file), *version)) {
                LibraryVersion library = version_from_file_name(base_name(file));
                fail("library {} is {} (version {}) but the loaded driver is version {} (from "
                     "{}): install the driver's libraries of version {} or fix library_dirs",
                     soname, file, format_library_version(library), *version, driver.file,
                     *version);
            }
        }
    }

    // The container has the devices of the job's GPUs only, which a GPU runtime numbers
    // from 0: the job's variables that name GPUs by index follow.
    void add_renumbered_gpus()
    {
        if (gpus_.empty())
            return;
        for (const auto& variable : module_.renumber_gpus)
            if (auto value = job_environment_.find(variable); value != job_environment_.end())
                resolved_.set_environment.emplace_back(variable,
                                                       renumber_gpu_list(value->second, gpus_));
    }

    // abi_check: each host library found is bound under the image's soname (with its
    // dependencies) and its version noted for the check against the image's copy. A host
    // that lacks one is noted too: an image that has it is refused rather than mixed.
    void add_replacements()
    {
        if (!module_.abi_check)
            return;
        std::map<std::string, std::string> found;
        for (const auto& [image_soname, host_soname] : module_.abi_check->replace) {
            LibraryReplacement replacement;
            replacement.module = resolved_.name;
            replacement.image_soname = image_soname;
            replacement.host_soname = host_soname;
            replacement.policy = module_.abi_check->policy;
            if (auto path = libraries_.find(host_soname, {}, "/")) {
                replacement.host_path = *path;
                replacement.host_version = read_library_version(*path);
                found[image_soname] = *path;
                libraries_.add_dependencies(*path, false, false, found);
            }
            resolved_.replacements.push_back(std::move(replacement));
        }
        if (found.empty()) {
            std::vector<std::string> wanted;
            for (const auto& [image_soname, host_soname] : module_.abi_check->replace)
                wanted.push_back(host_soname);
            fail("none of the libraries of abi_check ({}) is in the ld.so cache{}",
                 fmt::join(wanted, ", "),
                 module_.library_dirs.empty()
                     ? std::string()
                     : fmt::format(" or in {}", fmt::join(module_.library_dirs, ", ")));
        }
        for (const auto& [soname, path] : found)
            resolved_.libraries.push_back({path, fmt::format("{}/{}", module_lib_dir, soname)});
    }

    void add_executables()
    {
        if (module_.executables.empty())
            return;
        std::map<std::string, std::string> runtime;
        std::set<std::string> loaders;
        for (const auto& name : module_.executables) {
            std::string path = find_program(variables_.expand(name));
            std::string inside = fmt::format("{}/bin/{}", module_host_dir, base_name(path));
            resolved_.host_files.push_back({path, inside});
            ElfInfo info = read_elf(path);
            std::string loader;
            if (info.is_elf && !info.interpreter.empty()) {
                loader = fmt::format("{}/lib/{}", module_host_dir, base_name(info.interpreter));
                if (loaders.insert(info.interpreter).second)
                    resolved_.host_files.push_back({info.interpreter, loader});
            }
            if (info.is_elf)
                libraries_.add_dependencies(path, true, false, runtime);
            resolved_.launchers.push_back({base_name(path), inside, loader});
        }
        for (const auto& pattern : module_.plugins)
            for (const auto& plugin : expand_glob(variables_.expand(pattern)))
                libraries_.add_dependencies(plugin, true, true, runtime);
        for (const auto& [soname, path] : runtime)
            resolved_.host_files.push_back(
                {path, fmt::format("{}/lib/{}", module_host_dir, soname)});
    }

    const Module& module_;
    Variables variables_;
    const std::map<std::string, std::string>& job_environment_;
    std::vector<unsigned> gpus_;
    LibraryResolver libraries_;
    std::map<std::string, std::string> library_paths_; // soname -> path, of libraries
    ResolvedModule resolved_;
};

} // namespace

ModuleResolution resolve_modules(const Config& config, const std::vector<std::string>& names,
                                 const ModuleContext& context)
{
    ModuleResolution resolution;
    if (names.empty())
        return resolution;
    LdCache cache = LdCache::load();
    for (const auto& name : names) {
        const Module& module = config.modules.at(name);
        try {
            resolution.modules.push_back(ModuleResolver(name, module, context, cache).resolve());
        } catch (const Error& e) {
            if (!module.optional)
                throw Error(
                    fmt::format("module '{}' cannot be applied on this node: {}", name, e.what()));
            resolution.skipped.push_back(fmt::format("{}: {}", name, e.what()));
        }
    }
    return resolution;
}

Plan plan_with_modules(const ContainerSpec& spec, const Config& config)
{
    Plan plan = plan_container(spec, config);
    ModuleContext context;
    context.job_environment = environment_map(spec.environment);
    context.cocoon_plugin = spec.cocoon_plugin;
    ModuleRequest request = spec.modules;
    // COCOON_MODULES of the job adds to --container-modules.
    if (auto requested = context.job_environment.find("COCOON_MODULES");
        requested != context.job_environment.end() && !requested->second.empty())
        for (const auto& name : parse_module_names(requested->second, "COCOON_MODULES"))
            request.enable.push_back(name);
    auto names = select_modules(config, request, context.job_environment);
    plan_modules(resolve_modules(config, names, context), plan);
    return plan;
}

} // namespace cocoon
