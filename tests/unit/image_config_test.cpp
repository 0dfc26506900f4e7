#include <gtest/gtest.h>

#include <map>

#include "cocoon/error.h"
#include "cocoon/image_config.h"

using namespace cocoon;

namespace {

const char* config_json = R"({
  "architecture": "amd64", "os": "linux",
  "config": {
    "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "FOO=image", "bad-name=x", "NOEQUALS"],
    "WorkingDir": "/srv",
    "Entrypoint": ["/entry.sh"],
    "Cmd": ["/bin/sh", "-c", "true"]
  }
})";

std::optional<std::string> lookup(const std::map<std::string, std::string>& env,
                                  const std::string& name)
{
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
}

} // namespace

TEST(ImageConfig, ParsesEnvWorkdirEntrypointCmd)
{
    auto config = parse_image_config(config_json);
    ASSERT_EQ(config.env.size(), 3u); // invalid entries are ignored
    EXPECT_EQ(config.env[0],
              (std::pair<std::string, std::string>{"PATH", "/usr/local/bin:/usr/bin:/bin"}));
    EXPECT_EQ(config.working_dir, "/srv");
    EXPECT_EQ(config.entrypoint, std::vector<std::string>{"/entry.sh"});
    EXPECT_EQ(config.cmd.size(), 3u);
}

TEST(ImageConfig, EmptyAndMissingConfig)
{
    EXPECT_TRUE(parse_image_config("").env.empty());
    EXPECT_TRUE(parse_image_config("{}").working_dir.empty());
    EXPECT_THROW(parse_image_config("{not json"), Error);
}

TEST(ImageConfig, ImageValuesWinExceptKeptNames)
{
    auto config = parse_image_config(config_json);
    std::map<std::string, std::string> job = {{"PATH", "/host/bin"}, {"FOO", "job"}};
    auto env = image_environment(config, [&](const std::string& name) { return lookup(job, name); },
                                 {"FOO", "LANG"});
    std::map<std::string, std::string> result(env.begin(), env.end());
    EXPECT_EQ(result["PATH"], "/usr/local/bin:/usr/bin:/bin"); // PATH comes from the image
    EXPECT_EQ(result.count("FOO"), 0u); // kept: the job's value stays
    EXPECT_EQ(result["LANG"], "C.UTF-8"); // kept, but the job has none: the image's applies
}

TEST(ImageConfig, EnvNames)
{
    EXPECT_EQ(parse_env_names("A,B_2,_C"), (std::vector<std::string>{"A", "B_2", "_C"}));
    EXPECT_THROW(parse_env_names(""), Error);
    EXPECT_THROW(parse_env_names("A,,B"), Error);
    EXPECT_THROW(parse_env_names("1A"), Error);
    EXPECT_THROW(parse_env_names("A=B"), Error);
}

TEST(LocaleVariables, TheImagesLocaleIsTakenWhole)
{
    std::map<std::string, std::string> job = {{"LANG", "de_DE.UTF-8"},
                                              {"LC_ALL", "de_DE.UTF-8"},
                                              {"LC_TIME", "fr_FR.UTF-8"},
                                              {"HOME", "/home/u"}};
    auto lookup = [&job](const std::string& name) -> std::optional<std::string> {
        auto it = job.find(name);
        return it == job.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    ImageConfig with_lang;
    with_lang.env = {{"PATH", "/bin"}, {"LANG", "C.UTF-8"}};
    EXPECT_EQ(dropped_locale_variables(with_lang, lookup, {}),
              (std::vector<std::string>{"LC_ALL", "LC_TIME"}));
    // --container-env keeps the job's value.
    EXPECT_EQ(dropped_locale_variables(with_lang, lookup, {"LC_ALL"}),
              (std::vector<std::string>{"LC_TIME"}));
    // An image without locale variables leaves the job's alone.
    ImageConfig without;
    without.env = {{"PATH", "/bin"}};
    EXPECT_TRUE(dropped_locale_variables(without, lookup, {}).empty());
    EXPECT_TRUE(is_locale_variable("LC_MESSAGES"));
    EXPECT_FALSE(is_locale_variable("LC_FOO"));
}
