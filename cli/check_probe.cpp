// cocoon check, the zstd items: tar2sqfs writes a small zstd image with the options of an
// import, and a container on it, built as a job's is (the holder program, a user namespace,
// squashfuse on /dev/fuse), reads a compressed file back in a process that joined it.
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "check.h"
#include "cocoon/child_process.h"
#include "cocoon/container.h"
#include "cocoon/error.h"
#include "cocoon/kernel_mount.h"
#include "common.h"

namespace cocoon::cli {

namespace {

constexpr const char* probe_text = "cocoon check: a zstd-compressed squashfs read back\n";

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
    for (char c : block)
        sum += static_cast<unsigned char>(c);
    put(148, 8, octal(sum, 6) + std::string("\0 ", 2));
    return block;
}

// A tar stream of /etc/cocoon-check, with text that compresses (so its block is stored
// compressed in the squashfs).
std::string probe_content();

std::string probe_tar()
{
    std::string content = probe_content();
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
std::string make_probe_image(CheckReport& report, const Config& config, const TempDir& dir)
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
    ProgramResult result = run_program({config.tar2sqfs, "--quiet", "--no-skip", "--compressor",
                                        "zstd", "--comp-extra", "level=3", image},
                                       tar);
    if (result.status != 0) {
        report.problem(item,
                       config.tar2sqfs + " could not write a zstd image: " + trim(result.output),
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
    // Not ChildProcess::start: it joins the container and reads the file itself.
    ChildProcess child = ChildProcess::run([&]() -> int {
        std::string message;
        try {
            join_container(holder.pid());
            auto text = read_text(path);
            message = !text               ? "cannot read " + path + ": " + std::strerror(errno)
                      : *text != expected ? path + " reads back different bytes"
                                          : "";
        } catch (const std::exception& e) {
            message = e.what();
        }
        (void)!write(write_end.get(), message.data(), message.size());
        return 0;
    });
    if (!child.running())
        return std::string("fork: ") + std::strerror(errno);
    write_end.reset();
    std::string message;
    char buffer[1024];
    for (ssize_t n; (n = read(read_end.get(), buffer, sizeof(buffer))) > 0;)
        message.append(buffer, static_cast<size_t>(n));
    child.wait();
    return message;
}

// A container on the probe image through the library, as a job gets one: the holder,
// squashfuse on a zstd image, a task that joins and reads a compressed file.
void check_squashfuse_zstd(CheckReport& report, Config config, const std::string& image)
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
        failure = read_in_container(holder, "/etc/cocoon-check", probe_content());
        holder.stop();
    } catch (const std::exception& e) {
        failure = e.what();
    }
    if (failure.empty())
        report.ok(item,
                  config.squashfuse + " mounts a zstd image in a container and reads it back");
    else
        report.problem(item, "a container on a zstd image failed: " + failure,
                       "install a squashfuse built with zstd (Debian 12's squashfuse is) and "
                       "check the items above");
}

// The probe file's contents.
std::string probe_content()
{
    std::string content;
    for (int i = 0; i < 64; ++i)
        content += probe_text;
    return content;
}

// A child in a user namespace of its own (root mapped to root) until this goes: what the
// plugin's idmapped mount maps the image's owners through.
class UsernsChild {
public:
    UsernsChild()
    {
        int ready[2], release[2];
        if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(release, O_CLOEXEC) != 0)
            throw_errno("pipe");
        UniqueFd ready_read(ready[0]), ready_write(ready[1]);
        UniqueFd release_read(release[0]);
        release_ = UniqueFd(release[1]);
        pid_ = fork();
        if (pid_ < 0)
            throw_errno("fork");
        if (pid_ == 0) {
            release_.reset(); // the parent's end: its close is what this child waits for
            char byte = unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
            (void)!write(ready_write.get(), &byte, 1);
            (void)!read(release_read.get(), &byte, 1);
            _exit(0);
        }
        ready_write.reset();
        char byte = 'n';
        if (read(ready_read.get(), &byte, 1) != 1 || byte != 'y')
            fail("cannot create a user namespace");
        std::string proc = "/proc/" + std::to_string(pid_);
        for (auto [file, text] : {std::pair{"/uid_map", "0 0 1"}, std::pair{"/setgroups", "deny"},
                                  std::pair{"/gid_map", "0 0 1"}}) {
            UniqueFd fd(open((proc + file).c_str(), O_WRONLY | O_CLOEXEC));
            auto length = static_cast<ssize_t>(std::strlen(text));
            if (!fd.valid() || write(fd.get(), text, static_cast<size_t>(length)) != length)
                throw_errno(fmt::format("cannot write the probe's user namespace {}", proc + file));
        }
        userns_ = UniqueFd(open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
        if (!userns_.valid())
            throw_errno("cannot open the probe's user namespace");
    }
    UsernsChild(const UsernsChild&) = delete;
    UsernsChild& operator=(const UsernsChild&) = delete;
    ~UsernsChild()
    {
        release_.reset();
        if (pid_ > 0)
            waitpid(pid_, nullptr, 0);
    }
    int userns() const { return userns_.get(); }

private:
    pid_t pid_ = -1;
    UniqueFd release_;
    UniqueFd userns_;
};

} // namespace

std::string probe_kernel_mount(const Config& config)
{
    try {
        TempDir dir; // root's, 0700, in /tmp (root's, sticky): as a trusted cache may lie
        std::string cache = dir.path + "/cache";
        const std::string hex(64, '0');
        if (mkdir(cache.c_str(), 0755) != 0 || mkdir((cache + "/images").c_str(), 0755) != 0)
            throw_errno("cannot create the probe's cache");
        std::string tar = dir.path + "/probe.tar";
        std::ofstream(tar, std::ios::binary) << probe_tar();
        ProgramResult written =
            run_program({config.tar2sqfs, "--quiet", "--no-skip", "--compressor", "zstd",
                         "--comp-extra", "level=3", cache + "/images/" + hex + ".sqsh"},
                        tar);
        if (written.status != 0)
            fail("{} could not write the probe image: {}", config.tar2sqfs, trim(written.output));
        Config trusted = config;
        trusted.kernel_mount = true;
        trusted.kernel_mount_linger = 0;
        trusted.shared_caches = {cache};
        UsernsChild child;
        UniqueFd mount = mount_trusted_squashfs(trusted, {0, hex}, child.userns());
        UniqueFd file(openat(mount.get(), "etc/cocoon-check", O_RDONLY | O_CLOEXEC));
        if (!file.valid())
            throw_errno("cannot open the probe file through the kernel mount");
        std::string text;
        char buffer[4096];
        for (ssize_t n; (n = read(file.get(), buffer, sizeof(buffer))) > 0;)
            text.append(buffer, static_cast<size_t>(n));
        if (text != probe_content())
            fail("the probe file reads back different bytes through the kernel mount");
        return ""; // the loop device goes with the mount (autoclear)
    } catch (const std::exception& e) {
        return e.what();
    }
}

Holder start_container(const ContainerSpec& spec, const Config& config)
{
    Holder::Hooks hooks;
    hooks.write_id_maps = [&spec](pid_t pid) {
        write_id_maps(pid, spec.identity, false, spec.options.user_is_outer_root());
    };
    return Holder::start(spec, config, hooks);
}

void check_zstd(CheckReport& report, const Config& config, bool tar2sqfs_ok, bool squashfuse_ok,
                bool kernel_ok)
{
    try {
        TempDir dir;
        std::string probe = tar2sqfs_ok ? make_probe_image(report, config, dir) : "";
        if (!tar2sqfs_ok)
            report.skip("tar2sqfs zstd", "needs tar2sqfs");
        if (!squashfuse_ok || probe.empty() || !kernel_ok)
            report.skip("squashfuse zstd", "needs squashfuse, the probe image from tar2sqfs, "
                                           "user namespaces and /dev/fuse");
        else
            check_squashfuse_zstd(report, config, probe);
    } catch (const std::exception& e) {
        report.problem("squashfuse zstd", e.what(), "");
    }
}

} // namespace cocoon::cli
