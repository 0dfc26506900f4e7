#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cocoon/config.h"
#include "cocoon/error.h"
#include "cocoon_build_config.h"
#include "config/config_wire.h"
#include "temp_dir.h"

using cocoon::Config;
using cocoon::config_keys;
using cocoon::default_config;
using cocoon::Error;
using cocoon::parse_config;

namespace {

// The configuration as the holder program receives it.
Config through_wire(const Config& config)
{
    return cocoon::config_from_json(cocoon::config_to_json(config));
}

} // namespace

TEST(Config, EmptyFileGivesDefaults)
{
    auto config = parse_config("", "test.yaml");
    auto defaults = cocoon::default_config();
    EXPECT_EQ(config.squashfuse, defaults.squashfuse);
    EXPECT_TRUE(config.mount_home);
    EXPECT_TRUE(config.mount_workdir);
    EXPECT_EQ(config.host_files, defaults.host_files);
}

TEST(Config, AllKeysAreRead)
{
    auto config = parse_config("squashfuse: /opt/bin/squashfuse_ll\n"
                               "mount_home: false\n"
                               "mount_workdir: no\n"
                               "host_files: [/etc/hosts]\n",
                               "test.yaml");
    EXPECT_EQ(config.squashfuse, "/opt/bin/squashfuse_ll");
    EXPECT_FALSE(config.mount_home);
    EXPECT_FALSE(config.mount_workdir);
    EXPECT_EQ(config.host_files, std::vector<std::string>{"/etc/hosts"});
}

TEST(Config, UnknownKeyIsAnErrorNamingFileAndKey)
{
    try {
        parse_config("mount_hmoe: false\n", "/etc/cocoon/cocoon.yaml");
        FAIL() << "no error";
    } catch (const Error& e) {
        std::string message = e.what();
        EXPECT_NE(message.find("/etc/cocoon/cocoon.yaml"), std::string::npos) << message;
        EXPECT_NE(message.find("mount_hmoe"), std::string::npos) << message;
    }
}

TEST(Config, RelativePathsAreRejected)
{
    EXPECT_THROW(parse_config("squashfuse: squashfuse_ll\n", "t"), Error);
    EXPECT_THROW(parse_config("host_files: [etc/hosts]\n", "t"), Error);
}

TEST(Config, WrongTypesAreRejected)
{
    EXPECT_THROW(parse_config("mount_home: maybe\n", "t"), Error);
    EXPECT_THROW(parse_config("host_files: /etc/hosts\n", "t"), Error);
    EXPECT_THROW(parse_config("- a\n- b\n", "t"), Error);
    EXPECT_THROW(parse_config("key: [unclosed\n", "t"), Error);
}

TEST(Config, RegistryKeys)
{
    auto config = parse_config("default_registry: ghcr.io\n"
                               "cache_dir: /scratch/{user}/cocoon\n"
                               "tar2sqfs: /opt/bin/tar2sqfs\n"
                               "registries:\n"
                               "  \"127.0.0.1:5000\": {insecure: true}\n"
                               "  docker.io: {mirrors: [mirror.site:5000]}\n",
                               "t");
    EXPECT_EQ(config.default_registry, "ghcr.io");
    EXPECT_EQ(config.cache_dir, "/scratch/{user}/cocoon");
    EXPECT_EQ(config.tar2sqfs, "/opt/bin/tar2sqfs");
    EXPECT_TRUE(config.registries.at("127.0.0.1:5000").insecure);
    EXPECT_FALSE(config.registries.at("docker.io").insecure);
    EXPECT_EQ(config.registries.at("docker.io").mirrors,
              std::vector<std::string>{"mirror.site:5000"});
}

TEST(Config, RegistryMistakesAreErrors)
{
    EXPECT_THROW(parse_config("registries: [a]\n", "t"), Error);
    EXPECT_THROW(parse_config("registries: {r: {insecur: true}}\n", "t"), Error);
    EXPECT_THROW(parse_config("registries: {r: {mirrors: m}}\n", "t"), Error);
    EXPECT_THROW(parse_config("cache_dir: relative/dir\n", "t"), Error);
}

TEST(Config, CacheMaxSize)
{
    EXPECT_EQ(parse_config("cache_max_size: 20G\n", "t").cache_max_size, 20ull << 30);
    EXPECT_EQ(parse_config("cache_max_size: 4096\n", "t").cache_max_size, 4096u);
    EXPECT_THROW(parse_config("cache_max_size: lots\n", "t"), Error);
    EXPECT_THROW(parse_config("cache_max_size: 5X\n", "t"), Error);
}

// The message of the Error parse_config throws for `text`; "" when it accepts it.
std::string config_error(const std::string& text)
{
    try {
        parse_config(text, "/etc/cocoon/cocoon.yaml");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(Config, ImageLimits)
{
    auto defaults = cocoon::default_config();
    EXPECT_EQ(defaults.image_max_size, 64ull << 30);
    EXPECT_EQ(defaults.image_max_entries, 1000000u);
    EXPECT_EQ(defaults.image_max_path_length, 4096u);
    auto config = parse_config("image_max_size: 500M\n"
                               "image_max_entries: 20000\n"
                               "image_max_path_length: 1024\n",
                               "t");
    EXPECT_EQ(config.image_max_size, 500ull << 20);
    EXPECT_EQ(config.image_max_entries, 20000u);
    EXPECT_EQ(config.image_max_path_length, 1024u);
    EXPECT_EQ(parse_config("image_max_size: 123456\n", "t").image_max_size, 123456u);
}

TEST(Config, ImageLimitMistakesNameTheKey)
{
    for (std::string text : {"image_max_size: 0\n", "image_max_size: big\n", "image_max_size: -1\n",
                             "image_max_entries: 0\n", "image_max_entries: 1e6\n",
                             "image_max_entries: 10K\n", "image_max_entries: -5\n",
                             "image_max_path_length: 0\n", "image_max_path_length: long\n"}) {
        std::string key = text.substr(0, text.find(':'));
        std::string error = config_error(text);
        EXPECT_NE(error.find("/etc/cocoon/cocoon.yaml: " + key + ": "), std::string::npos)
            << text << error;
    }
    EXPECT_NE(config_error("image_max_entries: 0\n").find("at least 1"), std::string::npos);
    EXPECT_NE(config_error("image_max_size: 0\n").find("more than 0"), std::string::npos);
    EXPECT_NE(config_error("image_max_entries: [1]\n").find("/etc/cocoon/cocoon.yaml"),
              std::string::npos);
}

TEST(Config, TransferTimeouts)
{
    auto defaults = cocoon::default_config();
    EXPECT_EQ(defaults.transfer_timeout, 3600u);
    EXPECT_EQ(defaults.transfer_stall_timeout, 60u);
    EXPECT_EQ(parse_config("transfer_timeout: 90\n", "t").transfer_timeout, 90u);
    EXPECT_EQ(parse_config("transfer_timeout: 90s\n", "t").transfer_timeout, 90u);
    EXPECT_EQ(parse_config("transfer_timeout: 30m\n", "t").transfer_timeout, 1800u);
    EXPECT_EQ(parse_config("transfer_timeout: 2h\n", "t").transfer_timeout, 7200u);
    EXPECT_EQ(parse_config("transfer_stall_timeout: 5\n", "t").transfer_stall_timeout, 5u);
    EXPECT_EQ(defaults.transfer_retries, 3u);
    EXPECT_EQ(parse_config("transfer_retries: 0\n", "t").transfer_retries, 0u);
    EXPECT_EQ(parse_config("transfer_retries: 10\n", "t").transfer_retries, 10u);
    EXPECT_NE(config_error("transfer_retries: 11\n").find("transfer_retries: 11 is more than 10"),
              std::string::npos);
    EXPECT_NE(config_error("transfer_retries: -1\n")
                  .find("transfer_retries: '-1' is not a whole number of at least 0"),
              std::string::npos);
    for (std::string text :
         {"transfer_timeout: 0\n", "transfer_timeout: soon\n", "transfer_timeout: 5d\n",
          "transfer_timeout: h\n", "transfer_timeout: 1.5h\n", "transfer_timeout: 99999999h\n",
          "transfer_stall_timeout: 0\n", "transfer_stall_timeout: -1\n"}) {
        std::string key = text.substr(0, text.find(':'));
        std::string error = config_error(text);
        EXPECT_NE(error.find(key + ": "), std::string::npos) << text << error;
        EXPECT_NE(error.find("is not a duration"), std::string::npos) << text << error;
    }
}

// The two linger durations: warm mounts of a job, kernel mounts kept on the node.
TEST(Config, MountLingers)
{
    for (auto [key, field] :
         {std::pair{std::string("warm_mount_linger"), &Config::warm_mount_linger},
          std::pair{std::string("kernel_mount_linger"), &Config::kernel_mount_linger}}) {
        EXPECT_EQ(cocoon::default_config().*field, 0u) << key;
        EXPECT_EQ(parse_config(key + ": 0\n", "t").*field, 0u) << key;
        EXPECT_EQ(parse_config(key + ": 30s\n", "t").*field, 30u) << key;
        EXPECT_EQ(parse_config(key + ": 2m\n", "t").*field, 120u) << key;
        // What the holder receives is read back the same.
        auto config = parse_config(key + ": 45\n", "t");
        EXPECT_EQ(through_wire(config).*field, 45u) << key;
        for (std::string value : {"-1", "soon", "1.5m"}) {
            std::string error = config_error(key + ": " + value + "\n");
            EXPECT_NE(error.find(key + ": "), std::string::npos) << value << error;
            EXPECT_NE(error.find("is not a duration"), std::string::npos) << value << error;
        }
    }
}

// The JSON the values travel in to the holder program is UTF-8: a value that is not (a
// Latin-1 path, say) is refused with its key when the file is read, not when a step
// encodes it. Bytes that no value takes (a comment) are left alone.
TEST(Config, NotUtf8IsNamedWithItsKey)
{
    std::string error = config_error("# caf\xe9\nshared_caches: [/a, /scratch/caf\xe9]\n");
    EXPECT_NE(error.find("/etc/cocoon/cocoon.yaml: shared_caches: a value is not UTF-8: write "
                         "the file in UTF-8"),
              std::string::npos)
        << error;
    error = config_error("modules: {m: {files: [{destination: /x, content: \"\xe9\"}]}}\n");
    EXPECT_NE(error.find("modules: m: files: content: a value is not UTF-8"), std::string::npos)
        << error;
    error = config_error("modules: {m: {environment: {set: {\"CAF\xc3\": x}}}}\n");
    EXPECT_NE(error.find("modules: m: environment: set: a key"), std::string::npos) << error;
    // UTF-8 itself is taken, and so are other bytes in a comment.
    EXPECT_EQ(parse_config("# caf\xe9\nshared_caches: [/scratch/caf\xc3\xa9]\n", "t").shared_caches,
              std::vector<std::string>{"/scratch/caf\xc3\xa9"});
}

TEST(Config, WarmMountAcrossJobs)
{
    EXPECT_FALSE(cocoon::default_config().warm_mount_across_jobs);
    auto config = parse_config("warm_mount_across_jobs: true\n", "t");
    EXPECT_TRUE(config.warm_mount_across_jobs);
    // What the holder receives is read back the same.
    EXPECT_TRUE(through_wire(config).warm_mount_across_jobs);
    // Like every boolean key, a wrong value is named with the key and the type it takes.
    std::string error = config_error("warm_mount_across_jobs: sometimes\n");
    EXPECT_NE(error.find("warm_mount_across_jobs: 'sometimes' is not a boolean"), std::string::npos)
        << error;
}

TEST(Config, TagCheckInterval)
{
    EXPECT_EQ(cocoon::default_config().tag_check_interval, 0u);
    EXPECT_EQ(parse_config("tag_check_interval: 0\n", "t").tag_check_interval, 0u);
    EXPECT_EQ(parse_config("tag_check_interval: 10m\n", "t").tag_check_interval, 600u);
    auto config = parse_config("tag_check_interval: 1h\n", "t");
    EXPECT_EQ(through_wire(config).tag_check_interval, 3600u);
    std::string error = config_error("tag_check_interval: daily\n");
    EXPECT_NE(error.find("tag_check_interval: 'daily' is not a duration"), std::string::npos)
        << error;
}

TEST(Config, UnknownKeyListsTheLimits)
{
    std::string error = config_error("image_max_files: 5\n");
    for (const char* key : {"image_max_size", "image_max_entries", "image_max_path_length",
                            "transfer_timeout", "transfer_stall_timeout"})
        EXPECT_NE(error.find(key), std::string::npos) << error;
}

TEST(Config, SharedCaches)
{
    auto config = parse_config("shared_caches: [/shared/cocoon, /apps/images]\n", "t");
    EXPECT_EQ(config.shared_caches, (std::vector<std::string>{"/shared/cocoon", "/apps/images"}));
    EXPECT_THROW(parse_config("shared_caches: /shared\n", "t"), Error);
    EXPECT_THROW(parse_config("shared_caches: [relative]\n", "t"), Error);
}

TEST(Config, OnlyARootOwnedFileWritableByRootIsTrusted)
{
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root to create a root-owned file";
    cocoon::test::TempDir temp("cocoon-config-test", 0755);
    const char* dir = temp.path().c_str();
    std::string path = temp.path() + "/cocoon.yaml";
    {
        std::ofstream out(path);
        out << "mount_home: false\n";
    }
    auto message = [](const std::string& file) -> std::string {
        try {
            cocoon::load_trusted_config(file);
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    };
    chmod(path.c_str(), 0644);
    EXPECT_FALSE(cocoon::load_trusted_config(path).mount_home);
    chmod(path.c_str(), 0664);
    EXPECT_NE(message(path).find("must be owned by root and writable only by root"),
              std::string::npos);
    chmod(path.c_str(), 0644);
    ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
    EXPECT_NE(message(path).find(path), std::string::npos) << message(path);
    ASSERT_EQ(chown(path.c_str(), 0, 0), 0);

    // A directory on the way that others could change: the file could be swapped.
    chmod(dir, 0777);
    EXPECT_NE(message(path).find("writable by its group or others"), std::string::npos)
        << message(path);
    chmod(dir, 0755);
    ASSERT_EQ(chown(dir, 65534, 65534), 0);
    EXPECT_NE(message(path).find("owned by uid 65534"), std::string::npos) << message(path);
    ASSERT_EQ(chown(dir, 0, 0), 0);

    // A symbolic link as the file.
    std::string link = temp.path() + "/link.yaml";
    ASSERT_EQ(symlink(path.c_str(), link.c_str()), 0);
    EXPECT_NE(message(link).find("is a symbolic link"), std::string::npos) << message(link);
}

TEST(Config, TheHolderReceivesTheSameValues)
{
    Config config = parse_config(R"(
squashfuse: /opt/sqfs/bin/squashfuse_ll
mount_home: false
mount_workdir: false
host_files: [/etc/hosts, "/etc/with space"]
tar2sqfs: /opt/bin/tar2sqfs
default_registry: registry.example.org:5000
cache_dir: "{home}/images"
cache_max_size: 20G
shared_caches: [/shared/a, /shared/b]
seccomp: {enabled: true, deny: [ptrace], allow: [bpf]}
registries:
  "registry.example.org:5000": {insecure: true, mirrors: [m1.example.org, "m2:443"]}
  docker.io: {mirrors: []}
)",
                                 "test");
    Config back = through_wire(config);
    EXPECT_TRUE(back == config);
    EXPECT_EQ(back.squashfuse, "/opt/sqfs/bin/squashfuse_ll");
    EXPECT_FALSE(back.mount_home);
    EXPECT_FALSE(back.mount_workdir);
    EXPECT_EQ(back.host_files, (std::vector<std::string>{"/etc/hosts", "/etc/with space"}));
    EXPECT_EQ(back.cache_dir, "{home}/images");
    EXPECT_EQ(back.cache_max_size, 20ULL << 30);
    EXPECT_EQ(back.shared_caches, (std::vector<std::string>{"/shared/a", "/shared/b"}));
    EXPECT_EQ(back.seccomp.deny, std::vector<std::string>{"ptrace"});
    EXPECT_EQ(back.seccomp.allow, std::vector<std::string>{"bpf"});
    ASSERT_EQ(back.registries.size(), 2u);
    EXPECT_TRUE(back.registries["registry.example.org:5000"].insecure);
    EXPECT_EQ(back.registries["registry.example.org:5000"].mirrors,
              (std::vector<std::string>{"m1.example.org", "m2:443"}));
}

TEST(Config, TheWireHasEveryKey)
{
    // A key added to the parser but not to the wire would be lost on the way to the
    // holder program: this keeps the two lists together.
    auto wire = cocoon::config_to_json(default_config());
    std::vector<std::string> written;
    for (const auto& entry : wire.items())
        written.push_back(entry.key());
    std::sort(written.begin(), written.end());
    auto keys = config_keys();
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(written, keys);
}

// A configuration that sets every key, and every field of a module, to something other than
// its default comes out of the wire as it went in: a field the wire leaves out would come
// back with its default.
TEST(Config, TheWireCarriesEveryField)
{
    Config config = parse_config(R"(
squashfuse: /opt/bin/squashfuse
mount_home: false
mount_workdir: false
host_files: [/etc/hosts]
writable_root: false
writable_size: 5M
tar2sqfs: /opt/bin/tar2sqfs
default_registry: registry.example.org
cache_dir: /scratch/{user}/cocoon
cache_max_size: 20G
shared_caches: [/shared/a]
shared_cache_owner: images
kernel_mount: true
kernel_mount_linger: 10m
warm_mount_linger: 30s
warm_mount_across_jobs: true
tag_check_interval: 1h
srun_resolves_tags: false
image_max_size: 1G
image_max_entries: 1000
image_max_path_length: 512
transfer_timeout: 2m
transfer_stall_timeout: 20s
transfer_retries: 5
registries: {"r.example.org:5000": {insecure: true, mirrors: [m.example.org]}}
seccomp: {enabled: false, deny: [ptrace], allow: [bpf]}
modules:
  every:
    when: gpus
    optional: true
    device_root: /fake
    devices: ["/dev/nvidia{gpu}"]
    binds: [{source: /opt/a, destination: /a, flags: [rw, optional]}]
    libraries: [libcuda.so.1]
    library_dirs: [/opt/lib]
    executables: [/opt/bin/tool]
    plugins: ["/opt/plugins/*.so"]
    files: [{destination: /etc/x.conf, content: "x\n"}]
    environment: {set: {A: "1"}, prepend: {PATH: /opt/bin}, pass: [B]}
    renumber_gpus: [CUDA_VISIBLE_DEVICES]
    abi_check: {policy: strict, replace: {libmpi.so.12: libmpich.so.12}}
    driver_version: {file: /proc/driver/x, pattern: 'v([0-9.]+)', libraries: [libcuda.so.1]}
)",
                                 "test");
    auto written = cocoon::config_to_json(config);
    auto defaults = cocoon::config_to_json(default_config());
    for (const auto& entry : defaults.items())
        EXPECT_NE(written.at(entry.key()), entry.value()) << entry.key() << " is its default";
    Config plain_module;
    plain_module.modules["every"] = {};
    auto module_defaults = cocoon::config_to_json(plain_module).at("modules").at("every");
    for (const auto& entry : module_defaults.items())
        EXPECT_NE(written.at("modules").at("every").at(entry.key()), entry.value())
            << "modules: " << entry.key() << " is its default";

    EXPECT_TRUE(through_wire(config) == config);
    // Exact: a field missing on the wire is an error, not a default.
    written.erase("kernel_mount");
    EXPECT_THROW(cocoon::config_from_json(written), nlohmann::json::exception);
}

// Every key the parser knows is documented where admins look: docs/configuration.md's table,
// cocoon.yaml(5) and the example etc/cocoon.yaml. A key added to the code alone fails here.
TEST(Config, EveryKeyIsDocumented)
{
    auto read = [](const char* relative) {
        std::ifstream in(std::string(COCOON_SOURCE_ROOT) + "/" + relative);
        EXPECT_TRUE(in.good()) << relative;
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    std::string table = read("docs/configuration.md");
    std::string manual = "\n" + read("man/cocoon.yaml.5.in");
    std::string example = "\n" + read("etc/cocoon.yaml");
    for (const auto& key : config_keys()) {
        EXPECT_NE(table.find("| `" + key + "` |"), std::string::npos)
            << key << " is missing from the table of docs/configuration.md";
        bool in_manual = manual.find("\n.B " + key + "\n") != std::string::npos ||
                         manual.find("\n.BR " + key + " ") != std::string::npos;
        EXPECT_TRUE(in_manual) << key << " is not described in man/cocoon.yaml.5.in";
        bool in_example = example.find("\n" + key + ":") != std::string::npos ||
                          example.find("\n# " + key + ":") != std::string::npos;
        EXPECT_TRUE(in_example) << key << " is missing from etc/cocoon.yaml";
    }
}

namespace {

std::string source_file(const std::string& relative)
{
    std::ifstream in(std::string(COCOON_SOURCE_ROOT) + "/" + relative);
    EXPECT_TRUE(in.good()) << relative;
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// The configuration as the holder receives it, as text: two configs are equal when this
// is, and a difference shows as one.
std::string wire_text(const Config& config)
{
    return cocoon::config_to_json(config).dump(1);
}

std::string with_only(const std::string& yaml)
{
    return wire_text(parse_config(yaml, "test"));
}

bool is_mapping(const cocoon::ConfigKey& key)
{
    return key.type.starts_with("mapping");
}

} // namespace

// The table's default of each key is what the parser really does without the key.
TEST(Config, TheKeyTableStatesTheParsersDefaults)
{
    std::string defaults = wire_text(cocoon::default_config());
    for (const auto& key : cocoon::config_key_table()) {
        // A value that starts with { but is no mapping ({home}/...) is quoted in YAML.
        bool quote = key.default_value.starts_with('{') && !is_mapping(key);
        std::string value = quote ? '"' + key.default_value + '"' : key.default_value;
        EXPECT_EQ(with_only(key.name + ": " + value), defaults)
            << key.name << ": the table's default " << key.default_value << " is not the parser's";
    }
}

// etc/cocoon.yaml writes every key with its default (modules: the shipped examples).
TEST(Config, TheExampleFileWritesTheDefaults)
{
    YAML::Node example = YAML::Load(source_file("etc/cocoon.yaml"));
    std::string defaults = wire_text(cocoon::default_config());
    for (const auto& key : cocoon::config_key_table()) {
        if (key.name == "modules")
            continue;
        ASSERT_TRUE(example[key.name]) << key.name << " is not set in etc/cocoon.yaml";
        YAML::Node one;
        one[key.name] = example[key.name];
        EXPECT_EQ(with_only(YAML::Dump(one)), defaults)
            << key.name << " in etc/cocoon.yaml is not the default " << key.default_value;
    }
}

// docs/configuration.md's table: "| `KEY` | TYPE | `DEFAULT`...".
TEST(Config, TheConfigurationPageStatesTypesAndDefaults)
{
    std::string page = source_file("docs/configuration.md");
    for (const auto& key : cocoon::config_key_table()) {
        std::string row = "| `" + key.name + "` | " + key.type + " | `" + key.default_value + "`";
        EXPECT_NE(page.find(row), std::string::npos)
            << "docs/configuration.md has no row starting " << row;
    }
}

// cocoon.yaml(5): ".BR KEY \" (TYPE)\"", and for keys with a plain value, the first
// "Default:" of its entry names the table's default.
TEST(Config, TheManualStatesTypesAndDefaults)
{
    std::string manual = source_file("man/cocoon.yaml.5.in");
    auto replace = [&](const std::string& placeholder, const std::string& value) {
        for (size_t at; (at = manual.find(placeholder)) != std::string::npos;)
            manual.replace(at, placeholder.size(), value);
    };
    replace("@SQUASHFUSE@", COCOON_SQUASHFUSE);
    replace("@TAR2SQFS@", COCOON_TAR2SQFS);
    for (const auto& key : cocoon::config_key_table()) {
        std::string heading = "\n.BR " + key.name + " \" (" + key.type + ")\"\n";
        size_t entry = manual.find(heading);
        ASSERT_NE(entry, std::string::npos) << "man/cocoon.yaml.5.in has no " << heading;
        if (is_mapping(key))
            continue;
        size_t end = manual.find("\n.TP\n", entry + 1);
        size_t label = manual.find("\nDefault:\n", entry);
        ASSERT_LT(label, end) << key.name << ": no 'Default:' in its entry of cocoon.yaml(5)";
        size_t line_start = label + 10;
        std::string line = manual.substr(line_start, manual.find('\n', line_start) - line_start);
        std::string value = line.substr(line.find(' ') + 1);
        if (value.starts_with('"'))
            value = value.substr(1, value.find('"', 1) - 1);
        else
            value = value.substr(0, value.find(' '));
        EXPECT_EQ(value, key.default_value) << key.name << " in cocoon.yaml(5): " << line;
    }
}
