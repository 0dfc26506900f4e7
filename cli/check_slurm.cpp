// cocoon check, the plugstack item: the line that loads the plugin (through SLURM_CONF or
// /etc/slurm/slurm.conf, PlugStackConfig and its includes), the plugin file, and the Slurm
// release it was built for against the one slurmd reports.
#include <elf.h>
#include <glob.h>
#include <strings.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "check.h"

namespace cocoon::cli {

namespace {

constexpr const char* plugin_file = "spank_cocoon.so";

// KEY=VALUE settings of slurm.conf (keys case-insensitive, as Slurm reads them).
std::optional<std::string> slurm_setting(const std::string& conf, const std::string& key)
{
    std::ifstream in(conf);
    std::string line;
    std::optional<std::string> value;
    while (std::getline(in, line)) {
        line = trim(line.substr(0, line.find('#')));
        auto eq = line.find('=');
        if (eq == std::string::npos)
            continue;
        if (strcasecmp(trim(line.substr(0, eq)).c_str(), key.c_str()) == 0)
            value = trim(line.substr(eq + 1));
    }
    return value;
}

struct PlugstackLine {
    std::string file; // plugstack file and line number
    std::string plugin;
    std::string config; // config= argument, empty without one
};

// The first "required|optional .../spank_cocoon.so" line in `file` and its includes.
std::optional<PlugstackLine> find_plugstack_line(const std::string& file, int depth = 0)
{
    std::ifstream in(file);
    std::string line;
    for (int number = 1; depth < 8 && std::getline(in, line); ++number) {
        std::istringstream words(line.substr(0, line.find('#')));
        std::string keyword, path;
        words >> keyword >> path;
        if (keyword == "include") {
            if (!path.starts_with('/'))
                path = parent_dir(file) + "/" + path;
            glob_t matches{};
            if (glob(path.c_str(), 0, nullptr, &matches) == 0)
                for (size_t i = 0; i < matches.gl_pathc; ++i)
                    if (auto found = find_plugstack_line(matches.gl_pathv[i], depth + 1)) {
                        globfree(&matches);
                        return found;
                    }
            globfree(&matches);
        } else if ((keyword == "required" || keyword == "optional") &&
                   std::filesystem::path(path).filename() == plugin_file) {
            PlugstackLine found{file + ":" + std::to_string(number), path, ""};
            for (std::string arg; words >> arg;)
                if (arg.starts_with("config="))
                    found.config = arg.substr(7);
            return found;
        }
    }
    return std::nullopt;
}

// "22.05" from Slurm's version number (major << 16 | minor << 8 | micro).
std::string major_minor(unsigned int version)
{
    char text[16];
    std::snprintf(text, sizeof(text), "%u.%02u", (version >> 16) & 0xff, (version >> 8) & 0xff);
    return text;
}

// The Slurm release of the node: "22.05" from `slurmd -V` ("slurm-wlm 22.05.8").
std::string node_slurm_release()
{
    ProgramResult result = run_program({"slurmd", "-V"});
    std::istringstream words(result.output);
    std::string word;
    while (words >> word)
        if (!word.empty() && std::isdigit(static_cast<unsigned char>(word[0]))) {
            auto second_dot = word.find('.', word.find('.') + 1);
            return word.substr(0, second_dot);
        }
    return "";
}

// The value of the 4-byte symbol `name` of the ELF64 shared object `path` (from its
// dynamic symbol table and the section that holds the symbol). The plugin cannot simply be
// dlopen'ed here: it is linked with immediate binding and calls into slurmstepd.
std::optional<uint32_t> elf_symbol_u32(const std::string& path, const std::string& name)
{
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto fits = [&data](uint64_t offset, uint64_t size) {
        return offset <= data.size() && size <= data.size() - offset;
    };
    Elf64_Ehdr header{};
    if (!fits(0, sizeof(header)) || data.compare(0, 4, ELFMAG) != 0 || data[EI_CLASS] != ELFCLASS64)
        return std::nullopt;
    std::memcpy(&header, data.data(), sizeof(header));
    std::vector<Elf64_Shdr> sections(header.e_shnum);
    if (header.e_shentsize != sizeof(Elf64_Shdr) ||
        !fits(header.e_shoff, sections.size() * sizeof(Elf64_Shdr)))
        return std::nullopt;
    std::memcpy(sections.data(), data.data() + header.e_shoff,
                sections.size() * sizeof(Elf64_Shdr));
    for (const auto& table : sections) {
        if (table.sh_type != SHT_DYNSYM || table.sh_link >= sections.size() ||
            !fits(table.sh_offset, table.sh_size))
            continue;
        const auto& strings = sections[table.sh_link];
        for (uint64_t at = 0; at + sizeof(Elf64_Sym) <= table.sh_size; at += sizeof(Elf64_Sym)) {
            Elf64_Sym symbol{};
            std::memcpy(&symbol, data.data() + table.sh_offset + at, sizeof(symbol));
            if (symbol.st_name >= strings.sh_size || symbol.st_size != 4 ||
                symbol.st_shndx >= sections.size() ||
                data.compare(strings.sh_offset + symbol.st_name, name.size() + 1, name.c_str(),
                             name.size() + 1) != 0)
                continue;
            const auto& holder = sections[symbol.st_shndx];
            uint64_t offset = holder.sh_offset + (symbol.st_value - holder.sh_addr);
            if (symbol.st_value < holder.sh_addr || !fits(offset, 4))
                return std::nullopt;
            uint32_t value = 0;
            std::memcpy(&value, data.data() + offset, 4);
            return value;
        }
    }
    return std::nullopt;
}

// The Slurm release the plugin was built for, from its plugin_version symbol (the number
// slurmstepd compares before it loads a plugin); "" when it has none.
std::string plugin_slurm_release(const std::string& plugin)
{
    auto version = elf_symbol_u32(plugin, "plugin_version");
    return version ? major_minor(*version) : "";
}

} // namespace

std::string check_plugstack(CheckReport& report)
{
    const std::string item = "plugstack";
    // A configless node (slurmd --conf-server) keeps the controller's copy in /run/slurm/conf.
    const char* env = getenv("SLURM_CONF");
    std::string slurm_conf = env && *env ? env : "/etc/slurm/slurm.conf";
    if (!(env && *env) && access(slurm_conf.c_str(), F_OK) != 0 &&
        access("/run/slurm/conf/slurm.conf", F_OK) == 0)
        slurm_conf = "/run/slurm/conf/slurm.conf";
    if (access(slurm_conf.c_str(), R_OK) != 0) {
        report.problem(item, "cannot read the Slurm configuration " + slurm_conf,
                       "run on a Slurm node, or set SLURM_CONF to its slurm.conf");
        return "";
    }
    std::string plugstack = slurm_setting(slurm_conf, "PlugStackConfig")
                                .value_or(parent_dir(slurm_conf) + "/plugstack.conf");
    auto line = find_plugstack_line(plugstack);
    if (!line) {
        report.problem(
            item, "no line of " + plugstack + " (or the files it includes) loads " + plugin_file,
            "add \"required /PATH/TO/spank_cocoon.so\" to " + plugstack +
                " or to a file it includes (example: etc/plugstack.conf.d/cocoon.conf)");
        return "";
    }
    std::string plugin = line->plugin;
    if (!plugin.starts_with('/'))
        plugin = slurm_setting(slurm_conf, "PluginDir").value_or("/usr/lib/slurm") + "/" + plugin;
    if (access(plugin.c_str(), R_OK) != 0) {
        report.problem(item, line->file + " loads " + plugin + ", which is missing",
                       "install cocoon (meson install) or correct the path on that line");
        return line->config;
    }
    std::string built_for = plugin_slurm_release(plugin);
    std::string node = node_slurm_release();
    if (built_for.empty()) {
        report.problem(item, plugin + " has no plugin_version: not a Slurm plugin built by cocoon",
                       "rebuild and reinstall cocoon on this node");
    } else if (node.empty()) {
        report.problem(item,
                       plugin + " is built for Slurm " + built_for +
                           ", and slurmd -V gives no version on this node",
                       "install slurmd, or check that this is a compute node");
    } else if (built_for != node) {
        report.problem(item,
                       plugin + " is built for Slurm " + built_for + ", the node runs " + node,
                       "rebuild cocoon against this node's Slurm headers and reinstall it");
    } else {
        report.ok(item, line->file + " loads " + plugin + ", built for Slurm " + built_for +
                            " as the node runs");
    }
    return line->config;
}

} // namespace cocoon::cli
