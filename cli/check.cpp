// cocoon check: what a node needs for cocoon, item by item, each either ok or what is wrong
// and the command that fixes it. Run by an admin (as root) on a node; `--image IMAGE` then
// tries a container as the calling user, stage by stage, as a job would get it.
//
// The checks use the library's own rules (load_trusted_config, the trust checks of
// cocoon/trust.h, a real container on a probe image), so a node that passes runs jobs,
// and the check cannot drift from what the plugin enforces. Exit status: 0 when every item
// is ok, 1 otherwise, 2 for a usage error.
#include <elf.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/trust.h"
#include "cocoon_build_config.h"
#include "common.h"

namespace cocoon::cli {

namespace {

constexpr const char* plugin_file = "spank_cocoon.so";
constexpr const char* probe_text = "cocoon check: a zstd-compressed squashfs read back\n";

// One line per item: "ok", "FAIL" with the fix on the next line, or "skip" (not checked
// because something it needs failed).
class Report {
public:
    void ok(const std::string& item, const std::string& detail)
    {
        std::printf("ok    %s: %s\n", item.c_str(), printable(detail).c_str());
    }
    void problem(const std::string& item, const std::string& what, const std::string& fix)
    {
        ++failures_;
        std::printf("FAIL  %s: %s\n", item.c_str(), printable(what).c_str());
        if (!fix.empty())
            std::printf("      fix: %s\n", fix.c_str());
    }
    void skip(const std::string& item, const std::string& why)
    {
        std::printf("skip  %s: %s\n", item.c_str(), why.c_str());
    }
    int failures() const { return failures_; }

private:
    int failures_ = 0;
};

std::optional<std::string> read_text(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
        return std::nullopt;
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string trim(std::string text)
{
    auto begin = text.find_first_not_of(" \t\r\n");
    auto end = text.find_last_not_of(" \t\r\n");
    return begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
}

std::string parent_dir(const std::string& path)
{
    auto slash = path.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

struct ProgramResult {
    int status = -1; // exit status; -1 when it could not run or was killed
    std::string output; // stdout and stderr together
};

// Runs `argv` (argv[0] an absolute path, or a name looked up in the standard directories)
// with stdin from `input` (or /dev/null) and a fixed PATH; returns its status and output.
ProgramResult run_program(const std::vector<std::string>& argv, const std::string& input = "")
{
    std::vector<char*> args;
    for (const auto& arg : argv)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char* envp[] = {path_env, nullptr};
    const char* stdin_path = input.empty() ? "/dev/null" : input.c_str();
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        return {};
    UniqueFd out_read(out[0]), out_write(out[1]);
    pid_t child = fork();
    if (child < 0)
        return {};
    if (child == 0) {
        int in = open(stdin_path, O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(out_write.get(), 1) < 0 ||
            dup2(out_write.get(), 2) < 0)
            _exit(126);
        execvpe(args[0], args.data(), envp);
        _exit(127);
    }
    out_write.reset();
    ProgramResult result;
    char buffer[4096];
    ssize_t n;
    while ((n = read(out_read.get(), buffer, sizeof(buffer))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || result.output.size() > (1 << 20))
            break;
        result.output.append(buffer, static_cast<size_t>(n));
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// --- the kernel ------------------------------------------------------------------------

// Creates a user namespace in a child that is (or became) an unprivileged user: the one
// thing the sysctls below are about, tried for real. 0 or the errno of unshare.
int try_unprivileged_userns()
{
    pid_t child = fork();
    if (child < 0)
        return errno;
    if (child == 0) {
        if (geteuid() == 0) {
            const uid_t nobody = 65534;
            if (setgroups(0, nullptr) != 0 || setresgid(nobody, nobody, nobody) != 0 ||
                setresuid(nobody, nobody, nobody) != 0)
                _exit(255);
        }
        _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : errno);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : EINVAL;
}

bool check_user_namespaces(Report& report)
{
    const std::string item = "user namespaces";
    struct Sysctl {
        const char* file;
        const char* name;
        const char* bad; // the value that stops cocoon
        const char* fix;
    };
    const Sysctl sysctls[] = {
        {"/proc/sys/kernel/unprivileged_userns_clone", "kernel.unprivileged_userns_clone", "0",
         "sysctl -w kernel.unprivileged_userns_clone=1, and the same line in /etc/sysctl.d/"},
        {"/proc/sys/user/max_user_namespaces", "user.max_user_namespaces", "0",
         "sysctl -w user.max_user_namespaces=15000, and the same line in /etc/sysctl.d/"},
        {"/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
         "kernel.apparmor_restrict_unprivileged_userns", "1",
         "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, and the same line in "
         "/etc/sysctl.d/"},
    };
    std::string seen;
    for (const auto& sysctl : sysctls) {
        auto value = read_text(sysctl.file);
        if (!value)
            continue; // not in this kernel
        std::string v = trim(*value);
        if (v == sysctl.bad) {
            report.problem(item,
                           std::string(sysctl.name) + " is " + v +
                               ": unprivileged users cannot create user namespaces",
                           sysctl.fix);
            return false;
        }
        seen += (seen.empty() ? "" : ", ") + std::string(sysctl.name) + "=" + v;
    }
    if (int error = try_unprivileged_userns(); error != 0) {
        report.problem(item,
                       std::string("an unprivileged process cannot create one: ") +
                           std::strerror(error),
                       "enable CONFIG_USER_NS in the kernel and allow it to users (sysctls "
                       "above, seccomp or LSM policy of the node)");
        return false;
    }
    report.ok(item, seen + (seen.empty() ? "" : "; ") + "an unprivileged process creates one");
    return true;
}

bool check_fuse(Report& report)
{
    const std::string item = "/dev/fuse";
    struct stat st {};
    if (stat("/dev/fuse", &st) != 0) {
        report.problem(item, std::string("missing: ") + std::strerror(errno),
                       "modprobe fuse (and load it at boot: echo fuse > "
                       "/etc/modules-load.d/fuse.conf)");
        return false;
    }
    if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 10 || minor(st.st_rdev) != 229) {
        report.problem(item, "not the FUSE character device 10:229",
                       "rm /dev/fuse && mknod -m 0666 /dev/fuse c 10 229");
        return false;
    }
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    if ((st.st_mode & 0666) != 0666) {
        report.problem(item,
                       std::string("mode ") + mode +
                           ": users cannot open it, so squashfuse cannot mount their images",
                       "chmod 0666 /dev/fuse, and keep it so with a udev rule: "
                       "KERNEL==\"fuse\", MODE=\"0666\"");
        return false;
    }
    report.ok(item, std::string("character device 10:229, mode ") + mode);
    return true;
}

// --- Slurm: the plugstack line ----------------------------------------------------------

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
    Elf64_Ehdr header {};
    if (!fits(0, sizeof(header)) || data.compare(0, 4, ELFMAG) != 0 ||
        data[EI_CLASS] != ELFCLASS64)
        return std::nullopt;
    std::memcpy(&header, data.data(), sizeof(header));
    std::vector<Elf64_Shdr> sections(header.e_shnum);
    if (header.e_shentsize != sizeof(Elf64_Shdr) ||
        !fits(header.e_shoff, sections.size() * sizeof(Elf64_Shdr)))
        return std::nullopt;
    std::memcpy(sections.data(), data.data() + header.e_shoff, sections.size() * sizeof(Elf64_Shdr));
    for (const auto& table : sections) {
        if (table.sh_type != SHT_DYNSYM || table.sh_link >= sections.size() ||
            !fits(table.sh_offset, table.sh_size))
            continue;
        const auto& strings = sections[table.sh_link];
        for (uint64_t at = 0; at + sizeof(Elf64_Sym) <= table.sh_size; at += sizeof(Elf64_Sym)) {
            Elf64_Sym symbol {};
            std::memcpy(&symbol, data.data() + table.sh_offset + at, sizeof(symbol));
            if (symbol.st_name >= strings.sh_size || symbol.st_size != 4 ||
                symbol.st_shndx >= sections.size() ||
                data.compare(strings.sh_offset + symbol.st_name, name.size() + 1,
                             name.c_str(), name.size() + 1) != 0)
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

// Returns the config= argument of the plugstack line (empty when none was found).
std::string check_plugstack(Report& report)
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
    std::string plugstack =
        slurm_setting(slurm_conf, "PlugStackConfig").value_or(parent_dir(slurm_conf) +
                                                               "/plugstack.conf");
    auto line = find_plugstack_line(plugstack);
    if (!line) {
        report.problem(item,
                       "no line of " + plugstack + " (or the files it includes) loads " +
                           plugin_file,
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
        report.problem(item, plugin + " is built for Slurm " + built_for +
                                 ", and slurmd -V gives no version on this node",
                       "install slurmd, or check that this is a compute node");
    } else if (built_for != node) {
        report.problem(item, plugin + " is built for Slurm " + built_for + ", the node runs " + node,
                       "rebuild cocoon against this node's Slurm headers and reinstall it");
    } else {
        report.ok(item, line->file + " loads " + plugin + ", built for Slurm " + built_for +
                            " as the node runs");
    }
    return line->config;
}

// --- cocoon.yaml ------------------------------------------------------------------------

// The configuration the plugin would use; built-in defaults when it has none.
Config check_config(Report& report, const std::string& path, bool given)
{
    const std::string item = "cocoon.yaml";
    if (!given && access(path.c_str(), F_OK) != 0) {
        report.ok(item, "no " + path + " (built-in defaults apply)");
        return default_config();
    }
    Config config;
    try {
        config = load_config(path);
    } catch (const std::exception& e) {
        report.problem(item, e.what(), "correct the key named above (cocoon.yaml(5) lists every key)");
        return default_config();
    }
    try {
        load_trusted_config(path);
        report.ok(item, path + ": every key valid; root's, writable only by root, in root's directories");
    } catch (const std::exception& e) {
        report.problem(item, e.what(),
                       "chown root:root " + path + " && chmod 0644 " + path +
                           ", and the same owner (no group or other write) for every directory above it");
    }
    return config;
}

// --- programs and the probe image -------------------------------------------------------

bool check_program(Report& report, const std::string& key, const std::string& path,
                   const std::string& package)
{
    if (access(path.c_str(), X_OK) != 0) {
        report.problem(key, path + " is not installed (" + std::strerror(errno) + ")",
                       "apt install " + package + ", or set cocoon.yaml key " + key +
                           " to where it is");
        return false;
    }
    try {
        verify_trusted_program(path, "the " + key + " program (cocoon.yaml key " + key + ")");
    } catch (const std::exception& e) {
        report.problem(key, e.what(), "chown root " + path + " && chmod go-w " + path +
                                          " (and the directories above it)");
        return false;
    }
    report.ok(key, path + ": installed, root's, writable only by root");
    return true;
}

struct TempDir {
    std::string path;
    TempDir()
    {
        char name[] = "/tmp/cocoon-check.XXXXXX";
        if (!mkdtemp(name))
            throw_errno("cannot create a temporary directory in /tmp");
        path = name;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
};

// One ustar header block.
std::string tar_header(const std::string& name, char type, size_t size, unsigned mode)
{
    std::string block(512, '\0');
    auto put = [&block](size_t offset, size_t width, const std::string& value) {
        block.replace(offset, std::min(value.size(), width), value.substr(0, width));
    };
    auto octal = [](size_t value, int digits) {
        char text[32];
        std::snprintf(text, sizeof(text), "%0*zo", digits, value);
        return std::string(text);
    };
    put(0, 100, name);
    put(100, 8, octal(mode, 7));
    put(108, 8, octal(0, 7));
    put(116, 8, octal(0, 7));
    put(124, 12, octal(size, 11));
    put(136, 12, octal(0, 11));
    put(148, 8, "        ");
    block[156] = type;
    put(257, 6, std::string("ustar\0", 6));
    put(263, 2, "00");
    unsigned sum = 0;
    for (unsigned char c : block)
        sum += c;
    put(148, 8, octal(sum, 6) + std::string("\0 ", 2));
    return block;
}

// A tar stream of /etc/cocoon-check, with text that compresses (so its block is stored
// compressed in the squashfs).
std::string probe_tar()
{
    std::string content;
    for (int i = 0; i < 64; ++i)
        content += probe_text;
    std::string tar = tar_header("etc/", '5', 0, 0755);
    tar += tar_header("etc/cocoon-check", '0', content.size(), 0644);
    tar += content + std::string((512 - content.size() % 512) % 512, '\0');
    return tar + std::string(1024, '\0');
}

bool tar2sqfs_lists_zstd(const std::string& tar2sqfs)
{
    ProgramResult help = run_program({tar2sqfs, "--help"});
    std::istringstream lines(help.output);
    bool in_list = false;
    for (std::string line; std::getline(lines, line);) {
        if (line.find("block compressors") != std::string::npos)
            in_list = true;
        else if (in_list && trim(line).empty())
            in_list = false;
        else if (in_list && trim(line).starts_with("zstd"))
            return true;
    }
    return false;
}

// tar2sqfs writes the probe image with the options the importer uses; "" on failure.
std::string make_probe_image(Report& report, const Config& config, const TempDir& dir)
{
    const std::string item = "tar2sqfs zstd";
    if (!tar2sqfs_lists_zstd(config.tar2sqfs)) {
        report.problem(item, config.tar2sqfs + " --help lists no zstd compressor",
                       "install squashfs-tools-ng built with zstd (Debian 12's is)");
        return "";
    }
    std::string tar = dir.path + "/probe.tar";
    std::string image = dir.path + "/probe.sqsh";
    std::ofstream(tar, std::ios::binary) << probe_tar();
    ProgramResult result = run_program(
        {config.tar2sqfs, "--quiet", "--no-skip", "--compressor", "zstd", "--comp-extra",
         "level=3", image},
        tar);
    if (result.status != 0) {
        report.problem(item, config.tar2sqfs + " could not write a zstd image: " + trim(result.output),
                       "install squashfs-tools-ng built with zstd (Debian 12's is)");
        return "";
    }
    report.ok(item, config.tar2sqfs + " writes zstd-compressed images");
    return image;
}

// Reads `path` inside the container of `holder` in a child (as a task would) and compares
// it with `expected`: "" when equal, else what went wrong.
std::string read_in_container(const Holder& holder, const std::string& path,
                              const std::string& expected)
{
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0)
        return std::string("pipe: ") + std::strerror(errno);
    UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
    pid_t child = fork();
    if (child < 0)
        return std::string("fork: ") + std::strerror(errno);
    if (child == 0) {
        std::string message;
        try {
            join_container(holder.pid());
            auto text = read_text(path);
            message = !text ? "cannot read " + path + ": " + std::strerror(errno)
                      : *text != expected ? path + " reads back different bytes"
                                          : "";
        } catch (const std::exception& e) {
            message = e.what();
        }
        (void)!write(write_end.get(), message.data(), message.size());
        _exit(0);
    }
    write_end.reset();
    std::string message;
    char buffer[1024];
    for (ssize_t n; (n = read(read_end.get(), buffer, sizeof(buffer))) > 0;)
        message.append(buffer, static_cast<size_t>(n));
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return message;
}

Holder start_container(const ContainerSpec& spec, const Config& config)
{
    Holder::Hooks hooks;
    hooks.write_id_maps = [&spec](pid_t pid) { write_id_maps(pid, spec.identity, false); };
    return Holder::start(spec, config, hooks);
}

// A container on the probe image through the library, as a job gets one: the holder,
// squashfuse on a zstd image, a task that joins and reads a compressed file.
void check_squashfuse_zstd(Report& report, Config config, const std::string& image)
{
    const std::string item = "squashfuse zstd";
    config.mount_home = false;
    config.mount_workdir = false;
    config.host_files.clear();
    ContainerSpec spec;
    spec.identity = current_identity();
    spec.workdir = "/";
    std::string failure;
    try {
        spec.image = parse_image_reference(image, "/", config.default_registry);
        Holder holder = start_container(spec, config);
        std::string content;
        for (int i = 0; i < 64; ++i)
            content += probe_text;
        failure = read_in_container(holder, "/etc/cocoon-check", content);
        holder.stop();
    } catch (const std::exception& e) {
        failure = e.what();
    }
    if (failure.empty())
        report.ok(item, config.squashfuse + " mounts a zstd image in a container and reads it back");
    else
        report.problem(item, "a container on a zstd image failed: " + failure,
                       "install a squashfuse built with zstd (Debian 12's squashfuse is) and "
                       "check the items above");
}

// --- caches -----------------------------------------------------------------------------

void check_caches(Report& report, const Config& config)
{
    const std::string& dir = config.cache_dir;
    auto placeholder = dir.find('{');
    if (dir.starts_with("{home}")) {
        report.ok("cache_dir", dir + ": each user's cache in their home directory");
    } else if (placeholder == std::string::npos) {
        report.problem("cache_dir", dir + " has no {uid}, {user} or {home}: every user would share one cache",
                       "set cache_dir to a per-user path such as /var/tmp/cocoon/{uid}");
    } else {
        // The directory the per-user caches are created in: root's, and sticky when users
        // may create their cache in it.
        std::string root = parent_dir(dir.substr(0, placeholder) + "x");
        struct stat st {};
        if (stat(root.c_str(), &st) != 0) {
            report.problem("cache_dir", root + " (where users create their caches) is missing",
                           "install -d -m 1777 " + root);
        } else if (st.st_uid != 0 || ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))) {
            report.problem("cache_dir",
                           root + " must be root's and, when users may write it, sticky",
                           "chown root " + root + " && chmod 1777 " + root);
        } else {
            try {
                verify_trusted_directory(parent_dir(root), 0, true,
                                         "the directory above the image caches");
                report.ok("cache_dir", dir + ": users create their caches in " + root);
            } catch (const std::exception& e) {
                report.problem("cache_dir", e.what(),
                               "make every directory above " + root + " root's with chmod go-w");
            }
        }
    }
    for (const auto& shared : config.shared_caches) {
        const std::string item = "shared cache " + shared;
        struct passwd* owner = getpwnam(config.shared_cache_owner.c_str());
        uid_t uid = owner ? owner->pw_uid
                          : static_cast<uid_t>(std::strtoul(config.shared_cache_owner.c_str(), nullptr, 10));
        try {
            verify_shared_cache(shared, uid);
            report.ok(item, access(shared.c_str(), F_OK) == 0 ? "only root or its owner can change it"
                                                               : "not on this node (skipped by jobs)");
        } catch (const std::exception& e) {
            report.problem(item, e.what(),
                           "chown -R " + config.shared_cache_owner + " " + shared +
                               " && chmod -R go-w " + shared);
        }
    }
}

// --- --image: a container as the calling user, stage by stage ---------------------------

int check_image(const std::string& config_path, const std::string& image_text)
{
    Report report;
    Config config;
    try {
        config = load_cli_config(config_path);
        report.ok("configuration", config_path.empty() ? "loaded" : config_path);
    } catch (const std::exception& e) {
        report.problem("configuration", e.what(), "ask your admin to run cocoon check on this node");
        return 1;
    }
    ContainerSpec spec;
    spec.workdir = current_directory();
    spec.identity = current_identity();
    spec.cache_dir = cache_dir(config, spec.identity);
    try {
        spec.image = parse_image_reference(image_text, current_directory(), config.default_registry);
        report.ok("image name", image_text);
    } catch (const std::exception& e) {
        report.problem("image name", image_text + ": " + e.what(), "");
        return 1;
    }
    try {
        open_image(spec, config, nullptr);
        report.ok("image", image_text + " is readable" +
                               (spec.image.kind == ImageReference::Kind::Path
                                    ? ""
                                    : " and in the cache " + spec.cache_dir));
    } catch (const std::exception& e) {
        report.problem("image", e.what(), "");
        return 1;
    }
    std::optional<Holder> holder;
    try {
        holder.emplace(start_container(spec, config));
        report.ok("container", "user and mount namespaces made, image mounted, holder pid " +
                                   std::to_string(holder->pid()));
    } catch (const std::exception& e) {
        report.problem("container", e.what(), "ask your admin to run cocoon check on this node");
        return 1;
    }
    pid_t child = fork();
    if (child == 0) {
        try {
            join_container(holder->pid());
            enter_workdir(spec.workdir, holder->image_workdir());
            forbid_new_privileges();
            apply_seccomp(config);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s\n", e.what());
            _exit(125);
        }
        int null_fd = open("/dev/null", O_RDWR);
        dup2(null_fd, 0);
        execlp("true", "true", nullptr);
        _exit(127);
    }
    int status = 0;
    while (child > 0 && waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    holder->stop();
    int code = child > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 0)
        report.ok("task", "joined the container and ran 'true' in it");
    else if (code == 127)
        report.problem("task", "joined the container; the image has no 'true' command", "");
    else
        report.problem("task", "could not join the container (status " + std::to_string(code) + ")",
                       "ask your admin to run cocoon check on this node");
    return report.failures() == 0 ? 0 : 1;
}

} // namespace

int check_command(int argc, char** argv)
{
    static const option long_options[] = {
        {"config", required_argument, nullptr, 'c'},
        {"image", required_argument, nullptr, 'i'},
        {nullptr, 0, nullptr, 0},
    };
    std::string config_path;
    std::string image;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:i:", long_options, nullptr)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'i': image = optarg; break;
        default: usage_error("invalid option for 'check'");
        }
    }
    if (optind < argc)
        usage_error(std::string("check: unexpected argument '") + argv[optind] +
                    "' (an image goes after --image)");
    if (!image.empty())
        return check_image(config_path, image);

    Report report;
    bool userns = check_user_namespaces(report);
    bool fuse = check_fuse(report);
    std::string plugstack_config = check_plugstack(report);
    bool given = !config_path.empty() || !plugstack_config.empty();
    if (config_path.empty())
        config_path = plugstack_config.empty() ? COCOON_DEFAULT_CONFIG : plugstack_config;
    Config config = check_config(report, config_path, given);
    bool squashfuse = check_program(report, "squashfuse", config.squashfuse, "squashfuse");
    bool tar2sqfs = check_program(report, "tar2sqfs", config.tar2sqfs, "squashfs-tools-ng");
    try {
        TempDir dir;
        std::string probe = tar2sqfs ? make_probe_image(report, config, dir) : "";
        if (!tar2sqfs)
            report.skip("tar2sqfs zstd", "needs tar2sqfs");
        if (!squashfuse || probe.empty() || !userns || !fuse)
            report.skip("squashfuse zstd", "needs squashfuse, the probe image from tar2sqfs, "
                                           "user namespaces and /dev/fuse");
        else
            check_squashfuse_zstd(report, config, probe);
    } catch (const std::exception& e) {
        report.problem("squashfuse zstd", e.what(), "");
    }
    check_caches(report, config);
    if (report.failures() == 0)
        std::printf("cocoon check: this node is ready for cocoon\n");
    else
        std::printf("cocoon check: %d problem%s\n", report.failures(),
                    report.failures() == 1 ? "" : "s");
    return report.failures() == 0 ? 0 : 1;
}

} // namespace cocoon::cli
