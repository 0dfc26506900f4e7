#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <map>

#include "cocoon/container_options.h"
#include "cocoon/error.h"
#include "temp_dir.h"

using namespace cocoon;

namespace {

std::vector<MountRequest> mounts(const std::string& text,
                                 std::vector<std::string>* unmounts = nullptr)
{
    std::vector<std::string> ignored;
    return parse_mount_requests(text, "/submit", unmounts ? *unmounts : ignored);
}

std::string mount_error(const std::string& text)
{
    try {
        mounts(text);
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

EnvLookup env_of(std::map<std::string, std::string> values)
{
    return [values](const std::string& name) -> std::optional<std::string> {
        auto it = values.find(name);
        return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
}

std::string resolve_error(const TypedOptions& typed, std::map<std::string, std::string> env = {})
{
    try {
        resolve_container_options(typed, env_of(env), "/submit", false);
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

TEST(MountRequests, SourceOnlyTargetAndFlags)
{
    auto list = mounts("/scratch,/data:/in,/opt/x:/x:ro+rprivate,rel/dir:/r:rw+bind");
    ASSERT_EQ(list.size(), 4u);
    EXPECT_EQ(list[0].source, "/scratch");
    EXPECT_EQ(list[0].target, "/scratch");
    EXPECT_FALSE(list[0].read_only);
    EXPECT_TRUE(list[0].recursive);
    EXPECT_EQ(list[1].target, "/in");
    EXPECT_TRUE(list[2].read_only);
    EXPECT_EQ(list[2].propagation, "rprivate");
    EXPECT_EQ(list[3].source, "/submit/rel/dir");
    EXPECT_FALSE(list[3].recursive);
    EXPECT_FALSE(list[3].read_only);
}

TEST(MountRequests, PathsAreNormalised)
{
    auto list = mounts("/data/./sub/:/in//x/");
    EXPECT_EQ(list[0].source, "/data/sub");
    EXPECT_EQ(list[0].target, "/in/x");
}

TEST(MountRequests, UmountEntries)
{
    std::vector<std::string> unmounts;
    auto list = mounts("umount:/etc/hosts,/a:/b", &unmounts);
    EXPECT_EQ(unmounts, std::vector<std::string>{"/etc/hosts"});
    EXPECT_EQ(list.size(), 1u);
}

TEST(MountRequests, ErrorsNameTheEntry)
{
    EXPECT_EQ(mount_error("/a:/b:ro+fast"),
              "unknown mount flag 'fast' (known: ro, rw, bind, rbind, private, "
              "rprivate, slave, rslave, noexec, nosuid, nodev; join several with '+')");
    EXPECT_EQ(mount_error("/a:/b:ro+rw"),
              "the flags 'ro' and 'rw' contradict each other; give one");
    EXPECT_EQ(mount_error("/a:b"), "the container path 'b' must be absolute");
    // In a list, the entry is named.
    EXPECT_EQ(mount_error("/x:/y,/a:b"), "'/a:b': the container path 'b' must be absolute");
    EXPECT_NE(mount_error("/a:/x/../../etc").find("has a '..' component"), std::string::npos);
    EXPECT_NE(mount_error("/a:/").find("cannot mount over the container's root"),
              std::string::npos);
    EXPECT_EQ(mount_error("/a:/b:ro:x"), "too many ':' (expected SRC[:DST[:FLAGS]])");
    EXPECT_NE(mount_error("/a,,/b").find("an empty entry"), std::string::npos);
    EXPECT_NE(mount_error(":/b").find("the source path is empty"), std::string::npos);
    EXPECT_NE(mount_error("/a:").find("the container path is empty"), std::string::npos);
    EXPECT_NE(mount_error("rel").find("a relative source needs a container path"),
              std::string::npos);
    EXPECT_NE(mount_error("/a:/x,/b:/x").find("/x is the target of two mounts"), std::string::npos);
    EXPECT_NE(mount_error("umount:relative").find("must be absolute"), std::string::npos);
    EXPECT_NE(mount_error("/a:/b\n").find("control character"), std::string::npos);
}

TEST(Unshare, Names)
{
    auto request = parse_unshare_request("net,uts");
    EXPECT_TRUE(request.net);
    EXPECT_FALSE(request.ipc);
    EXPECT_TRUE(request.uts);
    EXPECT_TRUE(parse_unshare_request("ipc").ipc);
    try {
        parse_unshare_request("net,pid");
        FAIL();
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(),
                     "unknown namespace 'pid' (known: net, ipc, uts; separate them with ',')");
    }
    EXPECT_THROW(parse_unshare_request(""), Error);
}

TEST(Boolean, Values)
{
    EXPECT_TRUE(parse_boolean_value("X", "1"));
    EXPECT_TRUE(parse_boolean_value("X", "Yes"));
    EXPECT_FALSE(parse_boolean_value("X", "off"));
    try {
        parse_boolean_value("PYXIS_CONTAINER_REMAP_ROOT", "maybe");
        FAIL();
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "PYXIS_CONTAINER_REMAP_ROOT='maybe' is not a boolean (use 1 or 0, "
                               "true or false, yes or no)");
    }
}

TEST(Resolve, DefaultsWithNothingGiven)
{
    auto resolved = resolve_container_options({}, env_of({}), "/submit", false);
    EXPECT_FALSE(resolved.writable.has_value());
    EXPECT_FALSE(resolved.container.remap_root);
    EXPECT_FALSE(resolved.container.entrypoint_log);
    EXPECT_FALSE(resolved.container.mount_home.has_value());
    EXPECT_FALSE(resolved.entrypoint.has_value());
    EXPECT_TRUE(resolved.container.mounts.empty());
    EXPECT_FALSE(resolved.container.unshare.any());
}

// cocoon.yaml writable_root decides only when neither --container-writable nor
// --container-readonly (nor their PYXIS_/COCOON_ variables) was given.
TEST(Resolve, WritableRootIsTheSiteDefault)
{
    Config writable_site;
    Config readonly_site;
    readonly_site.writable_root = false;
    auto untold = resolve_container_options({}, env_of({}), "/submit", false);
    EXPECT_TRUE(container_options_for(untold, writable_site).writable);
    EXPECT_FALSE(container_options_for(untold, readonly_site).writable);

    auto asked_writable =
        resolve_container_options({{"container-writable", ""}}, env_of({}), "/submit", false);
    EXPECT_TRUE(container_options_for(asked_writable, readonly_site).writable);
    auto asked_readonly = resolve_container_options({}, env_of({{"PYXIS_CONTAINER_READONLY", "1"}}),
                                                    "/submit", false);
    EXPECT_FALSE(container_options_for(asked_readonly, writable_site).writable);
}

TEST(Resolve, EnvironmentFillsInAndCommandLineWins)
{
    auto env = env_of({{"PYXIS_CONTAINER_MOUNTS", "/env:/env"},
                       {"PYXIS_CONTAINER_WORKDIR", "/from-env"},
                       {"PYXIS_CONTAINER_REMAP_ROOT", "1"},
                       {"PYXIS_CONTAINER_READONLY", "1"},
                       {"PYXIS_CONTAINER_MOUNT_HOME", "0"},
                       {"PYXIS_CONTAINER_UNSHARE", "ipc"},
                       {"PYXIS_CONTAINER_ENTRYPOINT", "yes"},
                       {"PYXIS_CONTAINER_ENTRYPOINT_LOG", "1"}});
    auto from_env = resolve_container_options({}, env, "/submit", false);
    EXPECT_EQ(from_env.container.mounts.at(0).target, "/env");
    EXPECT_EQ(from_env.container.workdir, "/from-env");
    EXPECT_TRUE(from_env.container.remap_root);
    EXPECT_EQ(from_env.writable, std::optional<bool>(false));
    EXPECT_EQ(from_env.container.mount_home, std::optional<bool>(false));
    EXPECT_TRUE(from_env.container.unshare.ipc);
    EXPECT_EQ(from_env.entrypoint, std::optional<bool>(true));
    EXPECT_TRUE(from_env.container.entrypoint_log);

    TypedOptions typed = {{"container-mounts", "/cli:/cli"}, {"container-workdir", "/from-cli"},
                          {"no-container-remap-root", ""},   {"container-writable", ""},
                          {"container-mount-home", ""},      {"container-unshare", "net"},
                          {"no-container-entrypoint", ""}};
    auto from_cli = resolve_container_options(typed, env, "/submit", false);
    EXPECT_EQ(from_cli.container.mounts.at(0).target, "/cli");
    EXPECT_EQ(from_cli.container.workdir, "/from-cli");
    EXPECT_FALSE(from_cli.container.remap_root);
    EXPECT_EQ(from_cli.writable, std::optional<bool>(true));
    EXPECT_EQ(from_cli.container.mount_home, std::optional<bool>(true));
    EXPECT_TRUE(from_cli.container.unshare.net);
    EXPECT_FALSE(from_cli.container.unshare.ipc);
    EXPECT_EQ(from_cli.entrypoint, std::optional<bool>(false));
}

TEST(Resolve, CocoonVariablesWinOverPyxisOnes)
{
    auto env =
        env_of({{"PYXIS_CONTAINER_WORKDIR", "/pyxis"}, {"COCOON_CONTAINER_WORKDIR", "/cocoon"}});
    EXPECT_EQ(resolve_container_options({}, env, "/", false).container.workdir, "/cocoon");
}

TEST(Resolve, ContradictionsAndBadValuesNameWhatWasTyped)
{
    EXPECT_EQ(resolve_error({{"container-writable", ""}, {"container-readonly", ""}}),
              "--container-writable and --container-readonly contradict each other; give one");
    EXPECT_EQ(
        resolve_error({{"container-remap-root", ""}, {"no-container-remap-root", ""}}),
        "--container-remap-root and --no-container-remap-root contradict each other; give one");
    EXPECT_EQ(
        resolve_error({}, {{"PYXIS_CONTAINER_WRITABLE", "1"}, {"PYXIS_CONTAINER_READONLY", "1"}}),
        "PYXIS_CONTAINER_WRITABLE=1 and PYXIS_CONTAINER_READONLY=1 contradict each other; "
        "unset one");
    EXPECT_EQ(resolve_error({{"container-unshare", "pid"}}),
              "--container-unshare=pid: unknown namespace 'pid' (known: net, ipc, uts; separate "
              "them with ',')");
    EXPECT_EQ(resolve_error({}, {{"PYXIS_CONTAINER_MOUNTS", "/a:/b:fast"}}),
              "PYXIS_CONTAINER_MOUNTS=/a:/b:fast: unknown mount flag 'fast' (known: "
              "ro, rw, bind, rbind, private, rprivate, slave, rslave, noexec, nosuid, nodev; join "
              "several with '+')");
    EXPECT_EQ(resolve_error({}, {{"COCOON_CONTAINER_MOUNT_HOME", "perhaps"}}),
              "COCOON_CONTAINER_MOUNT_HOME='perhaps' is not a boolean (use 1 or 0, true or false, "
              "yes or no)");
    EXPECT_EQ(resolve_error({{"container-workdir", ""}}),
              "--container-workdir=: the working directory is empty; give a path in the container");
    // The same option twice (Slurm may run a callback twice) is no contradiction.
    EXPECT_EQ(resolve_error({{"container-readonly", ""}, {"container-readonly", ""}}), "no error");
}

TEST(Resolve, MissingSourcesAreRefusedWhereTheHostCanTell)
{
    cocoon::test::TempDir temp("cocoon-options-test");
    const std::string& dir = temp.path();
    TypedOptions typed = {{"container-mounts", "missing:/m"}};
    try {
        resolve_container_options(typed, env_of({}), dir, true);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), "--container-mounts=missing:/m: cannot mount " + dir +
                                             "/missing at /m: No such file or directory");
    }
    // A parent missing here too: perhaps a node-local path, left to the node.
    typed = {{"container-mounts", "/nonexistent-top/x:/m"}};
    EXPECT_NO_THROW(resolve_container_options(typed, env_of({}), dir, true));
    typed = {{"container-mounts", "./:/m"}};
    EXPECT_EQ(resolve_container_options(typed, env_of({}), dir, true).container.mounts.at(0).source,
              dir);
}

TEST(OptionTable, EveryRowHasHelpAndAVariable)
{
    for (const auto& row : container_option_table()) {
        EXPECT_NE(row.help, nullptr) << row.name;
        EXPECT_NE(row.env_suffix, nullptr) << row.name;
        EXPECT_EQ(row.negated == nullptr, row.negated_help == nullptr) << row.name;
        EXPECT_TRUE(std::string(row.name).starts_with("container-")) << row.name;
    }
}

TEST(ContainerSave, RelativePathsAreTakenFromTheWorkingDirectory)
{
    auto none = env_of({});
    EXPECT_EQ(
        resolve_container_options({{"container-save", "out/x.sqsh"}}, none, "/submit", false).save,
        "/submit/out/x.sqsh");
    EXPECT_EQ(
        resolve_container_options({{"container-save", "/a/../b.sqsh"}}, none, "/submit", false)
            .save,
        "/b.sqsh");
    EXPECT_EQ(
        resolve_container_options({}, env_of({{"PYXIS_CONTAINER_SAVE", "p.sqsh"}}), "/s", false)
            .save,
        "/s/p.sqsh");
    EXPECT_EQ(resolve_container_options(
                  {},
                  env_of({{"COCOON_CONTAINER_SAVE", "c.sqsh"}, {"PYXIS_CONTAINER_SAVE", "p.sqsh"}}),
                  "/s", false)
                  .save,
              "/s/c.sqsh");
    EXPECT_EQ(resolve_container_options({}, none, "/s", false).save, "");
}

TEST(ContainerSave, BadPathsNameWhatWasTyped)
{
    EXPECT_EQ(resolve_error({{"container-save", ""}}),
              "--container-save=: the path is empty; give the squashfs file to write");
    EXPECT_EQ(resolve_error({{"container-save", "dir/"}}),
              "--container-save=dir/: the path names a directory; give a file in it, such as "
              "dir/image.sqsh");
    EXPECT_EQ(resolve_error({}, {{"PYXIS_CONTAINER_SAVE", "a\nb"}}),
              "PYXIS_CONTAINER_SAVE=a\nb: the path has a control character; choose another");
}
