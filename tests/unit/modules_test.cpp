#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cocoon/config.h"
#include "cocoon/error.h"
#include "cocoon/modules.h"
#include "config/config_wire.h"
#include "modules/elf.h"
#include "modules/ld_cache.h"
#include "temp_dir.h"

using namespace cocoon;

namespace {

Config config_of(const std::string& yaml)
{
    return parse_config(yaml, "test.yaml");
}

// The configuration as the holder program receives it.
Config through_wire(const Config& config)
{
    return config_from_json(config_to_json(config));
}

std::string error_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

// A temporary directory, removed with everything in it.
using cocoon::test::TempDir;

const char* modules_yaml = R"(
modules:
  base: {when: always, environment: {set: {A: "1"}}}
  gpu: {when: gpus, devices: ["/dev/nvidia{gpu}"]}
  extra: {environment: {prepend: {PATH: /extra/bin}, pass: [KEEP]}}
)";

} // namespace

TEST(ModulesConfig, ParsesEveryKeyAndReadsBackTheSame)
{
    Config config = config_of(R"(
modules:
  site:
    when: gpus
    optional: true
    device_root: /fake
    devices: [/dev/x, "/dev/y*"]
    binds:
      - {source: /run/licence.sock, destination: /run/l.sock, flags: [rw, optional]}
      - {source: "{munge_socket}"}
    libraries: [liblicence.so.2]
    library_dirs: [/opt/licence/lib]
    executables: [lmstat, /opt/bin/tool]
    plugins: ["/opt/plugins/*.so"]
    files: [{destination: /etc/licence.conf, content: "server=lic\n"}]
    environment:
      set: {LM_LICENSE_FILE: /etc/licence.conf}
      prepend: {PATH: /opt/bin}
      pass: [LICENCE_TOKEN]
)");
    Config back = through_wire(config);
    EXPECT_TRUE(back == config);
    const Module& module = back.modules.at("site");
    EXPECT_EQ(module.when, Module::When::Gpus);
    EXPECT_TRUE(module.optional);
    EXPECT_EQ(module.device_root, "/fake");
    EXPECT_EQ(module.devices, (std::vector<std::string>{"/dev/x", "/dev/y*"}));
    ASSERT_EQ(module.binds.size(), 2u);
    EXPECT_EQ(module.binds[0].destination, "/run/l.sock");
    EXPECT_FALSE(module.binds[0].read_only);
    EXPECT_TRUE(module.binds[0].optional);
    EXPECT_TRUE(module.binds[1].read_only);
    EXPECT_EQ(module.libraries, std::vector<std::string>{"liblicence.so.2"});
    EXPECT_EQ(module.executables, (std::vector<std::string>{"lmstat", "/opt/bin/tool"}));
    ASSERT_EQ(module.files.size(), 1u);
    EXPECT_EQ(module.files[0].content, "server=lic\n");
    EXPECT_EQ(module.set_environment.at("LM_LICENSE_FILE"), "/etc/licence.conf");
    EXPECT_EQ(module.pass_environment, std::vector<std::string>{"LICENCE_TOKEN"});
}

TEST(ModulesConfig, BadModulesNameTheKey)
{
    EXPECT_EQ(error_of([] { config_of("modules: {m: {when: sometimes}}"); }),
              "test.yaml: modules: m: when: 'sometimes' is not one of always, requested, gpus");
    EXPECT_EQ(error_of([] {
                  config_of("modules: {m: {colour: red}}");
              }).find("test.yaml: modules: m: unknown key 'colour'"),
              0u);
    EXPECT_EQ(error_of([] { config_of("modules: {m: {binds: [{source: /a, flags: [rx]}]}}"); }),
              "test.yaml: modules: m: binds: flags: unknown flag 'rx' (known flags: ro, rw, "
              "optional)");
    EXPECT_EQ(error_of([] { config_of("modules: {m: {libraries: [/lib/libc.so.6]}}"); }),
              "test.yaml: modules: m: libraries: '/lib/libc.so.6' is not a soname (libfoo.so.1)");
    EXPECT_EQ(error_of([] { config_of("modules: {Bad: {}}"); }),
              "test.yaml: modules: 'Bad' is not a module name (lower-case letters, digits, '-' "
              "and '_')");
    EXPECT_EQ(error_of([] { config_of("modules: {m: {devices: [dev/x]}}"); }),
              "test.yaml: modules: m: devices: must be an absolute path inside the container, "
              "got 'dev/x'");
}

TEST(ModulesConfig, AbiCheckReadsBackAndNamesBadValues)
{
    Config config = config_of(R"(
modules:
  mpi:
    abi_check:
      policy: full
      replace: {libmpi.so.12: libmpich.so.12, libmpicxx.so.12: libmpichcxx.so.12}
)");
    EXPECT_TRUE(through_wire(config) == config);
    const auto& check = config.modules.at("mpi").abi_check;
    ASSERT_TRUE(check);
    EXPECT_EQ(check->policy, Module::AbiCheck::Policy::Full);
    EXPECT_EQ(check->replace.at("libmpi.so.12"), "libmpich.so.12");
    EXPECT_EQ(config_of("modules: {m: {abi_check: {replace: {a.so.1: b.so.1}}}}")
                  .modules.at("m")
                  .abi_check->policy,
              Module::AbiCheck::Policy::Major);
    EXPECT_EQ(
        error_of([] {
            config_of("modules: {m: {abi_check: {policy: exact, replace: {a.so.1: b.so.1}}}}");
        }),
        "test.yaml: modules: m: abi_check: policy: 'exact' is not one of major, full, strict");
    EXPECT_EQ(error_of([] { config_of("modules: {m: {abi_check: {policy: major}}}"); }),
              "test.yaml: modules: m: abi_check: replace: must map the image's sonames to the "
              "host's (libmpi.so.12: libmpich.so.12)");
    EXPECT_EQ(error_of([] {
                  config_of(
                      "modules: {m: {abi_check: {replace: {libmpi.so.12: /lib/libmpich.so.12}}}}");
              }),
              "test.yaml: modules: m: abi_check: replace: 'libmpi.so.12: /lib/libmpich.so.12' is "
              "not a pair of sonames (libmpi.so.12: libmpich.so.12)");
    EXPECT_EQ(error_of([] {
                  config_of("modules: {m: {abi_check: {colour: red}}}");
              }).find("test.yaml: modules: m: abi_check: unknown key 'colour'"),
              0u);
}

TEST(ModulesConfig, DriverVersionReadsBackAndNamesBadValues)
{
    Config config = config_of(R"(
modules:
  gpu:
    libraries: [libcuda.so.1, libnvidia-ml.so.1]
    driver_version:
      file: /proc/driver/nvidia/version
      pattern: 'Kernel Module +([0-9.]+)'
      libraries: [libcuda.so.1]
)");
    EXPECT_TRUE(through_wire(config) == config);
    const auto& driver = config.modules.at("gpu").driver_version;
    ASSERT_TRUE(driver);
    EXPECT_EQ(driver->file, "/proc/driver/nvidia/version");
    EXPECT_EQ(driver->pattern, "Kernel Module +([0-9.]+)");
    EXPECT_EQ(driver->libraries, std::vector<std::string>{"libcuda.so.1"});
    EXPECT_FALSE(config_of("modules: {m: {}}").modules.at("m").driver_version);
    EXPECT_EQ(error_of([] {
                  config_of("modules: {m: {libraries: [a.so.1], driver_version: {file: /v, "
                            "pattern: 'Module [0-9.]+', libraries: [a.so.1]}}}");
              }),
              "test.yaml: modules: m: driver_version: pattern: 'Module [0-9.]+' has no group "
              "(group 1 is the version)");
    EXPECT_EQ(error_of([] {
                  config_of("modules: {m: {libraries: [a.so.1], driver_version: {file: /v, "
                            "pattern: 'Module ([0-9.]+', libraries: [a.so.1]}}}");
              })
                  .find("test.yaml: modules: m: driver_version: pattern: 'Module ([0-9.]+' is not "
                        "a regular expression"),
              0u);
    EXPECT_EQ(error_of([] {
                  config_of("modules: {m: {libraries: [a.so.1], driver_version: {file: /v, "
                            "pattern: '(.*)', libraries: [b.so.1]}}}");
              }),
              "test.yaml: modules: m: driver_version: libraries: 'b.so.1' is not in the "
              "module's libraries");
    EXPECT_EQ(error_of([] {
                  config_of("modules: {m: {libraries: [a.so.1], driver_version: {file: v, "
                            "pattern: '(.*)', libraries: [a.so.1]}}}");
              }).find("test.yaml: modules: m: driver_version: file"),
              0u);
    EXPECT_EQ(error_of([] {
                  config_of("modules: {m: {libraries: [a.so.1], driver_version: {file: /v}}}");
              }),
              "test.yaml: modules: m: driver_version: needs file, pattern and libraries");
}

TEST(ModulesSelect, WhenRequestAndGpus)
{
    Config config = config_of(modules_yaml);
    EXPECT_EQ(select_modules(config, {}, {}), std::vector<std::string>{"base"});
    EXPECT_EQ(select_modules(config, {}, {{"CUDA_VISIBLE_DEVICES", "0"}}),
              (std::vector<std::string>{"base", "gpu"}));
    EXPECT_EQ(select_modules(config, {{"extra"}, {}, false}, {}),
              (std::vector<std::string>{"base", "extra"}));
    EXPECT_EQ(select_modules(config, {{"extra"}, {"base"}, false}, {}),
              std::vector<std::string>{"extra"});
    EXPECT_TRUE(select_modules(config, {{"extra"}, {}, true}, {{"SLURM_JOB_GPUS", "1"}}).empty());
    EXPECT_EQ(error_of([&] {
                  select_modules(config, {{"nope"}, {}, false}, {});
              }),
              "unknown module 'nope' (cocoon.yaml defines: base, extra, gpu)");
}

TEST(ModulesSelect, JobGpusPreferTheStepsAllocation)
{
    EXPECT_EQ(job_gpus({{"SLURM_STEP_GPUS", "2,3"}, {"CUDA_VISIBLE_DEVICES", "0"}}),
              (std::vector<unsigned>{2, 3}));
    EXPECT_EQ(job_gpus({{"SLURM_JOB_GPUS", "1"}, {"CUDA_VISIBLE_DEVICES", "0"}}),
              std::vector<unsigned>{1});
    EXPECT_EQ(job_gpus({{"CUDA_VISIBLE_DEVICES", "GPU-1234,1,1"}}), std::vector<unsigned>{1});
    EXPECT_TRUE(job_gpus({{"CUDA_VISIBLE_DEVICES", "NoDevFiles"}}).empty());
    EXPECT_TRUE(job_gpus({{"CUDA_VISIBLE_DEVICES", ""}}).empty());
}

TEST(ModulesSelect, GpuListsAreRenumberedForTheContainersDevices)
{
    // The job's GPUs 2 and 3 are the container's 0 and 1, in device order.
    EXPECT_EQ(renumber_gpu_list("2,3", {2, 3}), "0,1");
    EXPECT_EQ(renumber_gpu_list("3,2", {3, 2}), "1,0");
    EXPECT_EQ(renumber_gpu_list("1", {1}), "0");
    // A narrower list than the allocation: the position among the allocated devices.
    EXPECT_EQ(renumber_gpu_list("2", {0, 2}), "1");
    // UUIDs name a GPU wherever it is: kept.
    EXPECT_EQ(renumber_gpu_list("GPU-8a1c2f,3", {1, 3}), "GPU-8a1c2f,1");
    // Already relative (Slurm with ConstrainDevices=yes): unchanged.
    EXPECT_EQ(renumber_gpu_list("0,1", {2, 3}), "0,1");
    EXPECT_EQ(renumber_gpu_list("", {2}), "");
    Config config = config_of("modules: {g: {renumber_gpus: [CUDA_VISIBLE_DEVICES]}}");
    EXPECT_EQ(config.modules.at("g").renumber_gpus,
              std::vector<std::string>{"CUDA_VISIBLE_DEVICES"});
    EXPECT_TRUE(through_wire(config) == config);
}

TEST(ModulesSelect, ModuleNames)
{
    EXPECT_EQ(parse_module_names("slurm,munge,slurm", "--container-modules"),
              (std::vector<std::string>{"slurm", "munge"}));
    EXPECT_EQ(error_of([] { parse_module_names("slurm,,x", "--container-modules"); }),
              "--container-modules=slurm,,x: '' is not a module name (give names from "
              "cocoon.yaml's modules, separated by commas: slurm,munge)");
}

TEST(ModulesPlan, GoldenOperationsAndEnvironment)
{
    ResolvedModule module;
    module.name = "gpu";
    module.mounts.push_back({"/dev/nvidia1", "/dev/nvidia1", false, true});
    module.libraries.push_back({"/usr/lib/libcuda.so.1.2", "/.cocoon/lib/libcuda.so.1"});
    module.host_files.push_back({"/usr/bin/nvidia-smi", "/.cocoon/host/bin/nvidia-smi"});
    module.host_files.push_back(
        {"/lib64/ld-linux-x86-64.so.2", "/.cocoon/host/lib/ld-linux-x86-64.so.2"});
    module.launchers.push_back(
        {"nvidia-smi", "/.cocoon/host/bin/nvidia-smi", "/.cocoon/host/lib/ld-linux-x86-64.so.2"});
    module.set_environment.emplace_back("NVIDIA_VISIBLE", "1");
    module.pass_environment.push_back("CUDA_VISIBLE_DEVICES");
    ModuleResolution resolution;
    resolution.modules.push_back(module);
    resolution.skipped.push_back("fabric: device /dev/cxi0 is missing");
    Plan plan;
    plan.image = "/img.sqsh";
    plan_modules(resolution, plan);
    EXPECT_EQ(format_plan(plan),
              "root      /img.sqsh (read-only, nosuid, nodev)\n"
              "modules   gpu\n"
              "bind      /dev/nvidia1 <- /dev/nvidia1 [dev] (module gpu)\n"
              "bind      /.cocoon/lib/libcuda.so.1 <- /usr/lib/libcuda.so.1.2 [ro] (module gpu)\n"
              "bind      /.cocoon/host/bin/nvidia-smi <- /usr/bin/nvidia-smi [ro] (module gpu)\n"
              "bind      /.cocoon/host/lib/ld-linux-x86-64.so.2 <- /lib64/ld-linux-x86-64.so.2 "
              "[ro] (module gpu)\n"
              "file      /.cocoon/bin/nvidia-smi (168 bytes, executable) [ro] (module gpu)\n"
              "env       LD_LIBRARY_PATH prepend /.cocoon/lib (module gpu)\n"
              "env       PATH prepend /.cocoon/bin (module gpu)\n"
              "env       NVIDIA_VISIBLE=1 (module gpu)\n"
              "env       CUDA_VISIBLE_DEVICES from the job (module gpu)\n"
              "skipped   fabric: device /dev/cxi0 is missing\n");
    EXPECT_EQ(plan.ops[4].content,
              "#!/bin/sh\n# nvidia-smi from the host (cocoon module gpu)\nexec "
              "/.cocoon/host/lib/ld-linux-x86-64.so.2 --library-path /.cocoon/host/lib "
              "/.cocoon/host/bin/nvidia-smi \"$@\"\n");
}

TEST(ModulesPlan, EnvironmentIsAppliedOnTopOfTheCurrentValues)
{
    using Kind = EnvironmentChange::Kind;
    std::vector<EnvironmentChange> changes = {
        {Kind::Prepend, "PATH", "/.cocoon/bin", "slurm"},
        {Kind::Prepend, "LD_LIBRARY_PATH", "/.cocoon/lib", "gpu"},
        {Kind::Set, "A", "1", "x"},
        {Kind::Pass, "SLURM_CONF", "", "slurm"},
        {Kind::Pass, "UNSET", "", "slurm"},
    };
    auto result = module_environment(changes, {{"PATH", "/usr/bin"}, {"SLURM_CONF", "/image"}},
                                     {{"PATH", "/host"}, {"SLURM_CONF", "/etc/slurm.conf"}});
    EXPECT_EQ(result, (std::vector<std::pair<std::string, std::string>>{
                          {"PATH", "/.cocoon/bin:/usr/bin"},
                          {"LD_LIBRARY_PATH", "/.cocoon/lib"},
                          {"A", "1"},
                          {"SLURM_CONF", "/etc/slurm.conf"}}));
    // A step started from inside a container already has the prefix: not added twice.
    auto again = module_environment({changes[0]}, {{"PATH", "/.cocoon/bin:/usr/bin"}}, {});
    EXPECT_EQ(again[0].second, "/.cocoon/bin:/usr/bin");
}

TEST(ModulesHost, LdCacheFindsTheCLibrary)
{
    LdCache cache = LdCache::load();
    ASSERT_GT(cache.size(), 0u) << "this test needs the machine's /etc/ld.so.cache";
    auto libc = cache.find("libc.so.6");
    ASSERT_TRUE(libc);
    EXPECT_EQ(read_elf(*libc).is_elf, true);
    EXPECT_FALSE(cache.find("libcocoon-no-such-library.so.9"));
    EXPECT_EQ(
        error_of([] { LdCache::parse("not a cache at all, long enough to be read....", "x"); }),
        "x: not a glibc ld.so cache (expected glibc-ld.so.cache1.1)");
}

TEST(ModulesHost, ElfOfAProgram)
{
    ElfInfo info = read_elf("/bin/sh");
    ASSERT_TRUE(info.is_elf);
    EXPECT_FALSE(info.interpreter.empty());
    EXPECT_NE(std::find(info.needed.begin(), info.needed.end(), "libc.so.6"), info.needed.end());
    TempDir tree("cocoon-modules-test");
    EXPECT_FALSE(read_elf(tree.file("/script", "#!/bin/sh\necho hi\n")).is_elf);
}

TEST(ModulesHost, ResolvesDevicesGlobsGpusAndBinds)
{
    TempDir tree("cocoon-modules-test");
    tree.file("/dev/nvidiactl");
    tree.file("/dev/nvidia-uvm");
    tree.file("/dev/nvidia-uvm-tools");
    tree.file("/dev/nvidia0");
    tree.file("/dev/nvidia1");
    std::string socket = tree.file("/run/munge.socket");
    std::string slurm_conf =
        tree.file("/etc/slurm.conf", "ClusterName=x\nAuthInfo = socket=" + socket + "\n");
    Config config = config_of(fmt::format(R"(
modules:
  gpu:
    device_root: {0}
    devices: [/dev/nvidiactl, "/dev/nvidia-uvm*", "/dev/nvidia{{gpu}}", "/dev/cxi*"]
  munge:
    binds: [{{source: "{{munge_socket}}", destination: /run/munge/munge.socket.2}},
            {{source: "{{slurm_conf_dir}}"}}, {{source: /no/such, flags: [optional]}}]
)",
                                          tree.path()));
    ModuleContext context;
    context.job_environment = {{"SLURM_STEP_GPUS", "1"}, {"SLURM_CONF", slurm_conf}};
    auto resolution = resolve_modules(config, {"gpu", "munge"}, context);
    ASSERT_EQ(resolution.modules.size(), 2u);
    std::vector<std::string> targets;
    for (const auto& item : resolution.modules[0].mounts) {
        EXPECT_EQ(item.source, tree.path() + item.target);
        EXPECT_TRUE(item.device);
        targets.push_back(item.target);
    }
    EXPECT_EQ(targets, (std::vector<std::string>{"/dev/nvidiactl", "/dev/nvidia-uvm",
                                                 "/dev/nvidia-uvm-tools", "/dev/nvidia1"}));
    const auto& munge = resolution.modules[1].mounts;
    ASSERT_EQ(munge.size(), 2u);
    EXPECT_EQ(munge[0].source, socket);
    EXPECT_EQ(munge[0].target, "/run/munge/munge.socket.2");
    EXPECT_EQ(munge[1].source, tree.path() + "/etc");
}

TEST(ModulesHost, MissingPartsNameTheModuleUnlessOptional)
{
    Config config = config_of(R"(
modules:
  dev: {devices: [/dev/cocoon-no-such-device]}
  lib: {libraries: [libcocoon-no-such.so.1]}
  sock: {binds: [{source: /run/cocoon-no-such.socket}]}
  prog: {executables: [cocoon-no-such-program]}
  var: {binds: [{source: "{no_such_variable}"}]}
  opt: {optional: true, devices: [/dev/cocoon-no-such-device]}
)");
    EXPECT_EQ(error_of([&] { resolve_modules(config, {"dev"}, {}); }),
              "module 'dev' cannot be applied on this node: device /dev/cocoon-no-such-device "
              "is missing");
    EXPECT_EQ(error_of([&] { resolve_modules(config, {"lib"}, {}); }),
              "module 'lib' cannot be applied on this node: library libcocoon-no-such.so.1 is "
              "not in the ld.so cache");
    EXPECT_EQ(error_of([&] { resolve_modules(config, {"sock"}, {}); }),
              "module 'sock' cannot be applied on this node: /run/cocoon-no-such.socket is "
              "missing (bind source /run/cocoon-no-such.socket)");
    EXPECT_EQ(error_of([&] { resolve_modules(config, {"prog"}, {}); })
                  .find("module 'prog' cannot be applied on this node: program "
                        "cocoon-no-such-program is not installed (looked in /usr/local/sbin"),
              0u);
    EXPECT_EQ(
        error_of([&] { resolve_modules(config, {"var"}, {}); })
            .find("module 'var' cannot be applied on this node: '{no_such_variable}': unknown "
                  "variable {no_such_variable}"),
        0u);
    auto resolution = resolve_modules(config, {"opt"}, {});
    EXPECT_TRUE(resolution.modules.empty());
    EXPECT_EQ(resolution.skipped,
              std::vector<std::string>{"opt: device /dev/cocoon-no-such-device is missing"});
}

TEST(ModulesHost, ExecutablesGetTheHostsLoaderAndLibraries)
{
    Config config = config_of("modules: {shell: {executables: [sh], libraries: [libz.so.1]}}");
    auto resolution = resolve_modules(config, {"shell"}, {});
    ASSERT_EQ(resolution.modules.size(), 1u);
    const auto& module = resolution.modules[0];
    ASSERT_EQ(module.launchers.size(), 1u);
    EXPECT_EQ(module.launchers[0].program, "/.cocoon/host/bin/sh");
    EXPECT_EQ(module.launchers[0].loader.rfind("/.cocoon/host/lib/ld-linux", 0), 0u);
    bool has_libc = false;
    for (const auto& item : module.host_files)
        has_libc |= item.target == "/.cocoon/host/lib/libc.so.6";
    EXPECT_TRUE(has_libc) << "a host program brings the host's C library";
    // A library for the image's programs does not bring the C library: the image's is used.
    ASSERT_FALSE(module.libraries.empty());
    EXPECT_EQ(module.libraries[0].target, "/.cocoon/lib/libz.so.1");
    for (const auto& item : module.libraries)
        EXPECT_NE(item.target, "/.cocoon/lib/libc.so.6");
}

TEST(ModulesConfig, TheExampleFileDefinesTheShippedModules)
{
    Config config = load_config(COCOON_SOURCE_ROOT "/etc/cocoon.yaml");
    for (const char* name : {"slurm", "munge", "libfabric", "mpich", "nvidia", "amd"})
        EXPECT_TRUE(config.modules.contains(name)) << name;
    EXPECT_EQ(config.modules.at("nvidia").when, Module::When::Gpus);
    EXPECT_TRUE(config.modules.at("libfabric").optional);
}
