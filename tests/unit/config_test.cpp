#include <gtest/gtest.h>

#include "cocoon/config.h"
#include "cocoon/error.h"

using cocoon::Error;
using cocoon::parse_config;

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
