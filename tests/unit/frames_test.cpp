#include <gtest/gtest.h>

#include <unistd.h>

#include <functional>

#include "cocoon/config.h"
#include "cocoon/error.h"
#include "runtime/spec_wire.h"
#include "util/frames.h"

using namespace cocoon;

namespace {

struct Pipe {
    Pipe()
    {
        int fds[2];
        EXPECT_EQ(pipe(fds), 0);
        read_end = fds[0];
        write_end = fds[1];
    }
    ~Pipe()
    {
        close(read_end);
        if (write_end >= 0)
            close(write_end);
    }
    void send_raw(const std::string& bytes)
    {
        EXPECT_EQ(write(write_end, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    }
    void close_write()
    {
        close(write_end);
        write_end = -1;
    }
    int read_end = -1;
    int write_end = -1;
};

std::string error_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST(Frames, RoundTripKeepsAnyBytes)
{
    Pipe pipe;
    std::string payload("A=line one\nline two\0tail", 24);
    sys::write_frame(pipe.write_end, "image-env", payload);
    sys::write_frame(pipe.write_end, "ready");
    pipe.close_write();
    auto frame = sys::read_frame(pipe.read_end, 1024);
    EXPECT_EQ(frame.type, "image-env");
    EXPECT_EQ(frame.payload, payload);
    frame = sys::read_frame(pipe.read_end, 1024);
    EXPECT_EQ(frame.type, "ready");
    EXPECT_EQ(frame.payload, "");
    EXPECT_EQ(sys::read_frame(pipe.read_end, 1024).type, "") << "end of stream";
}

TEST(Frames, APayloadOverTheLimitIsRefusedBeforeItIsRead)
{
    Pipe pipe;
    pipe.send_raw("image-env 999999999999\n");
    auto message = error_of([&] { sys::read_frame(pipe.read_end, 128 << 10); });
    EXPECT_NE(message.find("'image-env' message of 999999999999 bytes (at most 131072"),
              std::string::npos)
        << message;
}

TEST(Frames, MalformedHeadersAreRefused)
{
    for (const std::string& header :
         std::vector<std::string>{"ready\n", "Ready 0\n", "ready -1\n", "ready 1x\n", "ready  0\n",
                                  std::string(100, 'a') + "\n",
                                  "rea\x01"
                                  "dy 0\n"}) {
        Pipe pipe;
        pipe.send_raw(header);
        pipe.close_write();
        auto message = error_of([&] { sys::read_frame(pipe.read_end, 16); });
        EXPECT_NE(message.find("malformed message"), std::string::npos) << header << message;
    }
}

TEST(Frames, AStreamThatEndsInsideAFrameIsAnError)
{
    Pipe pipe;
    pipe.send_raw("error 10\nshort");
    pipe.close_write();
    auto message = error_of([&] { sys::read_frame(pipe.read_end, 16); });
    EXPECT_NE(message.find("ended inside a message"), std::string::npos) << message;
}

TEST(Frames, RawWriterForTheForkedChild)
{
    Pipe pipe;
    sys::write_frame_raw(pipe.write_end, "error", "cannot execute the holder program: denied");
    sys::write_frame_raw(pipe.write_end, "error", std::string(5000, 'x').c_str());
    pipe.close_write();
    EXPECT_EQ(sys::read_frame(pipe.read_end, 4096).payload,
              "cannot execute the holder program: denied");
    EXPECT_EQ(sys::read_frame(pipe.read_end, 4096).payload.size(), 1024u) << "cut at 1 KiB";
}

TEST(Frames, ControlCharactersAreEscaped)
{
    EXPECT_EQ(printable("a\x1b[31mb\nc\\d"), "a\\x1b[31mb\\x0ac\\x5cd");
    EXPECT_EQ(printable("naïve"), "naïve");
}

TEST(HolderRequest, SpecAndConfigurationRoundTrip)
{
    ContainerSpec spec;
    spec.image = parse_image_reference(
        "127.0.0.1:5000/test/busybox:1@sha256:" + std::string(64, 'a'), "/work");
    spec.image.resolved_digest = "sha256:" + std::string(64, 'b');
    spec.identity.uid = 1001;
    spec.identity.gid = 1002;
    spec.identity.groups = {1002, 27};
    spec.identity.user_name = "alice";
    spec.identity.gecos = "Alice, Room 1";
    spec.identity.home = "/home/alice";
    spec.identity.shell = "/bin/bash";
    spec.identity.group_names = {{1002, "alice"}, {27, "sudo"}};
    spec.workdir = "/work";
    spec.extra_files = {"/var/spool/slurmd/job1/slurm_script"};
    spec.step_directories = {"/var/spool/slurmd/pmix.1.0"};
    spec.cache_dir = "/var/tmp/cache/1001";
    spec.run_entrypoint = true;
    spec.environment = {"A=1", "B=two\nlines"};
    spec.keep_environment = {"A"};
    std::vector<std::string> unmounts;
    spec.options.mounts = parse_mount_requests("/a:/b:ro+rslave,/c:/d:bind+noexec", "/", unmounts);
    spec.options.unmounts = {"/etc/hosts"};
    spec.options.workdir = "/w";
    spec.options.mount_home = false;
    spec.options.remap_root = true;
    spec.options.writable = false;
    spec.options.unshare = {true, false, true};
    spec.options.entrypoint_log = true;
    Config config =
        parse_config("mount_home: false\nshared_caches: [/s]\nwritable_size: 5M\n", "test");

    ContainerSpec spec_back;
    Config config_back;
    decode_holder_request(encode_holder_request(spec, config), spec_back, config_back);
    EXPECT_EQ(spec_back.image.canonical(), spec.image.canonical());
    EXPECT_EQ(spec_back.image.kind, spec.image.kind);
    EXPECT_EQ(spec_back.image.text, spec.image.text);
    EXPECT_EQ(spec_back.image.resolved_digest, spec.image.resolved_digest);
    EXPECT_EQ(spec_back.identity.groups, spec.identity.groups);
    EXPECT_EQ(spec_back.identity.gecos, spec.identity.gecos);
    EXPECT_EQ(spec_back.identity.group_names, spec.identity.group_names);
    EXPECT_EQ(spec_back.extra_files, spec.extra_files);
    EXPECT_EQ(spec_back.step_directories, spec.step_directories);
    EXPECT_EQ(spec_back.cache_dir, spec.cache_dir);
    EXPECT_TRUE(spec_back.run_entrypoint);
    EXPECT_EQ(spec_back.environment, spec.environment);
    EXPECT_EQ(spec_back.keep_environment, spec.keep_environment);
    ASSERT_EQ(spec_back.options.mounts.size(), 2u);
    EXPECT_EQ(spec_back.options.mounts[0].propagation, "rslave");
    EXPECT_TRUE(spec_back.options.mounts[0].read_only);
    EXPECT_FALSE(spec_back.options.mounts[1].recursive);
    EXPECT_TRUE(spec_back.options.mounts[1].noexec);
    EXPECT_EQ(spec_back.options.mounts[1].target, "/d");
    EXPECT_EQ(spec_back.options.unmounts, spec.options.unmounts);
    EXPECT_EQ(spec_back.options.workdir, "/w");
    EXPECT_EQ(spec_back.options.mount_home, std::optional<bool>(false));
    EXPECT_TRUE(spec_back.options.remap_root);
    EXPECT_FALSE(spec_back.options.writable);
    EXPECT_TRUE(spec_back.options.unshare.net);
    EXPECT_FALSE(spec_back.options.unshare.ipc);
    EXPECT_TRUE(spec_back.options.unshare.uts);
    EXPECT_TRUE(spec_back.options.entrypoint_log);
    EXPECT_EQ(config_back.writable_size, uint64_t{5} << 20);
    EXPECT_FALSE(config_back.mount_home);
    EXPECT_EQ(config_back.shared_caches, std::vector<std::string>{"/s"});
    EXPECT_TRUE(config_back == config);
}

TEST(SpecWire, ModulesAndNonUtf8Variables)
{
    ContainerSpec spec;
    spec.modules = {{"slurm", "munge"}, {"nvidia"}, true};
    spec.cocoon_plugin = "/usr/lib/slurm/spank_cocoon.so";
    spec.environment = {"A=1", "LATIN=caf\xe9", "B=\xc3\xa9"};
    ContainerSpec back;
    Config config;
    decode_holder_request(encode_holder_request(spec, default_config()), back, config);
    EXPECT_EQ(back.modules.enable, (std::vector<std::string>{"slurm", "munge"}));
    EXPECT_EQ(back.modules.disable, std::vector<std::string>{"nvidia"});
    EXPECT_TRUE(back.modules.disable_all);
    EXPECT_EQ(back.cocoon_plugin, spec.cocoon_plugin);
    // Only modules read the environment without an entrypoint: a variable that JSON cannot
    // carry is left out instead of failing the step.
    EXPECT_EQ(back.environment, (std::vector<std::string>{"A=1", "B=\xc3\xa9"}));
}
