#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "cocoon/error.h"
#include "image/credentials.h"
#include "temp_dir.h"

using cocoon::Credentials;
using cocoon::Error;
using cocoon::find_credentials;
using cocoon::load_credentials;

namespace {

// base64 of "alice:hunter2" and of "me:s3cr:et".
const std::string alice_auth = "YWxpY2U6aHVudGVyMg==";
const std::string colon_auth = "bWU6czNjcjpldA==";

std::string auths(const std::string& key, const std::string& entry)
{
    return R"({"auths": {")" + key + R"(": )" + entry + "}}";
}

std::string auth_entry(const std::string& auth)
{
    return R"({"auth": ")" + auth + R"("})";
}

void expect_user(const std::optional<Credentials>& credentials, const std::string& username,
                 const std::string& password)
{
    ASSERT_TRUE(credentials.has_value());
    EXPECT_EQ(credentials->username, username);
    EXPECT_EQ(credentials->password, password);
}

// The message of the Error that find_credentials raises; a test failure when none.
std::string error_of(const std::string& json, const std::string& registry = "ghcr.io")
{
    try {
        find_credentials(json, registry);
    } catch (const Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no error for " << json;
    return {};
}

} // namespace

TEST(FindCredentials, AuthIsBase64OfUserColonPassword)
{
    expect_user(find_credentials(auths("ghcr.io", auth_entry(alice_auth)), "ghcr.io"), "alice",
                "hunter2");
    // Only the first ':' separates: passwords may contain ':'.
    expect_user(find_credentials(auths("ghcr.io", auth_entry(colon_auth)), "ghcr.io"), "me",
                "s3cr:et");
    // Padding is optional.
    expect_user(find_credentials(auths("ghcr.io", auth_entry("dTpw")), "ghcr.io"), "u", "p");
    expect_user(find_credentials(auths("ghcr.io", auth_entry("YTo")), "ghcr.io"), "a", "");
}

TEST(FindCredentials, UsernameAndPassword)
{
    expect_user(
        find_credentials(auths("quay.io", R"({"username": "bob", "password": "pw"})"), "quay.io"),
        "bob", "pw");
    // "auth" wins when both are present, as in Docker.
    expect_user(find_credentials(auths("quay.io", R"({"auth": ")" + alice_auth +
                                                      R"(", "username": "bob", "password": "pw"})"),
                                 "quay.io"),
                "alice", "hunter2");
}

TEST(FindCredentials, DockerHubAliases)
{
    for (const char* key :
         {"docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/",
          "https://index.docker.io/v1", "https://registry-1.docker.io"})
        expect_user(find_credentials(auths(key, auth_entry(alice_auth)), "docker.io"), "alice",
                    "hunter2");
}

TEST(FindCredentials, SchemesPathsAndPorts)
{
    expect_user(find_credentials(auths("https://ghcr.io", auth_entry(alice_auth)), "ghcr.io"),
                "alice", "hunter2");
    expect_user(
        find_credentials(auths("http://127.0.0.1:5000", auth_entry(alice_auth)), "127.0.0.1:5000"),
        "alice", "hunter2");
    expect_user(find_credentials(auths("https://GHCR.io/v2/", auth_entry(alice_auth)), "ghcr.io"),
                "alice", "hunter2");
    expect_user(find_credentials(auths("quay.io/org/repo", auth_entry(alice_auth)), "quay.io"),
                "alice", "hunter2");
    EXPECT_FALSE(find_credentials(auths("127.0.0.1:5000", auth_entry(alice_auth)), "127.0.0.1"));
    EXPECT_FALSE(
        find_credentials(auths("127.0.0.1:5000", auth_entry(alice_auth)), "127.0.0.1:5001"));
    EXPECT_FALSE(find_credentials(auths("ghcr.io.evil.com", auth_entry(alice_auth)), "ghcr.io"));
}

TEST(FindCredentials, TheClosestKeyWins)
{
    std::string both = R"({"auths": {"https://index.docker.io/v1/": {"auth": ")" + colon_auth +
                       R"("}, "docker.io": {"auth": ")" + alice_auth + R"("}}})";
    expect_user(find_credentials(both, "docker.io"), "alice", "hunter2");
    std::string scoped = R"({"auths": {"quay.io/org/repo": {"auth": ")" + colon_auth +
                         R"("}, "quay.io": {"auth": ")" + alice_auth + R"("}}})";
    expect_user(find_credentials(scoped, "quay.io"), "alice", "hunter2");
}

TEST(FindCredentials, EmptyEntriesAreSkipped)
{
    // Docker writes an empty entry when a credential helper holds the secret.
    std::string json = R"({"credsStore": "desktop", "auths": {"docker.io": {},
        "https://index.docker.io/v1/": {"auth": ")" +
                       alice_auth + R"("}}})";
    expect_user(find_credentials(json, "docker.io"), "alice", "hunter2");
    EXPECT_FALSE(find_credentials(auths("ghcr.io", "{}"), "ghcr.io"));
    EXPECT_FALSE(find_credentials(auths("ghcr.io", R"({"auth": ""})"), "ghcr.io"));
}

TEST(FindCredentials, NoMatchIsNullopt)
{
    EXPECT_FALSE(find_credentials(auths("ghcr.io", auth_entry(alice_auth)), "docker.io"));
    EXPECT_FALSE(find_credentials("{}", "ghcr.io"));
    EXPECT_FALSE(find_credentials(R"({"auths": {}})", "ghcr.io"));
    EXPECT_FALSE(find_credentials(R"({"credHelpers": {"ghcr.io": "x"}})", "ghcr.io"));
}

TEST(FindCredentials, MalformedJsonHidesTheSecret)
{
    for (const std::string& json : std::vector<std::string>{
             R"({"auths": {"ghcr.io": {"auth": ")" + alice_auth,
             R"({"auths": {"ghcr.io": {"password": "hunter2" "username": "alice"}}})",
             R"({"auths": {"ghcr.io": {"password": hunter2}}})",
             "hunter2",
         }) {
        std::string message = error_of(json);
        EXPECT_NE(message.find("not valid JSON"), std::string::npos) << message;
        EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
        EXPECT_EQ(message.find(alice_auth.substr(0, 8)), std::string::npos) << message;
    }
}

TEST(FindCredentials, BadEntriesNameTheKeyNotTheSecret)
{
    struct Case {
        std::string json;
        std::string reason;
    };
    for (const Case& c : {
             Case{auths("ghcr.io", auth_entry("hunter2!!")), "not base64"},
             Case{auths("ghcr.io", auth_entry("aHVudGVyMg==")), "user:password"},
             Case{auths("ghcr.io", R"({"auth": 42})"), "not a string"},
             Case{auths("ghcr.io", R"({"username": "alice", "password": ["hunter2"]})"),
                  "not a string"},
             Case{auths("ghcr.io", R"("hunter2")"), "not an object"},
             Case{R"({"auths": ["hunter2"]})", "not a JSON object"},
             Case{R"(["hunter2"])", "not a JSON object"},
         }) {
        std::string message = error_of(c.json);
        EXPECT_NE(message.find(c.reason), std::string::npos) << message;
        EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
        EXPECT_EQ(message.find("aHVudGVy"), std::string::npos) << message;
    }
}

class LoadCredentials : public ::testing::Test {
protected:
    void SetUp() override { home_ = temp_.path(); }
    cocoon::test::TempDir temp_{"cocoon-credentials-test"};

    std::string cocoon_file() const { return home_ + "/.config/cocoon/auth.json"; }
    std::string docker_file() const { return home_ + "/.docker/config.json"; }

    static void write(const std::string& path, const std::string& content)
    {
        std::filesystem::create_directories(std::filesystem::path(path).parent_path());
        std::ofstream(path) << content;
    }

    std::string error_of(const std::string& registry = "ghcr.io") const
    {
        try {
            load_credentials(home_, registry);
        } catch (const Error& e) {
            return e.what();
        }
        ADD_FAILURE() << "no error";
        return {};
    }

    std::string home_;
};

TEST_F(LoadCredentials, MissingFilesGiveNothing)
{
    EXPECT_FALSE(load_credentials(home_, "ghcr.io"));
    EXPECT_FALSE(load_credentials(home_ + "/no-such-home", "ghcr.io"));
    write(home_ + "/.docker", "a file where a directory belongs");
    EXPECT_FALSE(load_credentials(home_, "ghcr.io"));
}

TEST_F(LoadCredentials, CocoonFileComesFirst)
{
    write(cocoon_file(), auths("ghcr.io", auth_entry(alice_auth)));
    write(docker_file(), auths("ghcr.io", auth_entry(colon_auth)));
    expect_user(load_credentials(home_, "ghcr.io"), "alice", "hunter2");
}

TEST_F(LoadCredentials, DockerFileIsTheFallback)
{
    write(docker_file(), auths("ghcr.io", auth_entry(colon_auth)));
    expect_user(load_credentials(home_, "ghcr.io"), "me", "s3cr:et");
    write(cocoon_file(), auths("quay.io", auth_entry(alice_auth)));
    expect_user(load_credentials(home_, "ghcr.io"), "me", "s3cr:et");
    expect_user(load_credentials(home_, "quay.io"), "alice", "hunter2");
    EXPECT_FALSE(load_credentials(home_, "docker.io"));
}

TEST_F(LoadCredentials, SymlinksAreFollowed)
{
    write(home_ + "/elsewhere.json", auths("ghcr.io", auth_entry(alice_auth)));
    std::filesystem::create_directories(home_ + "/.docker");
    std::filesystem::create_symlink(home_ + "/elsewhere.json", docker_file());
    expect_user(load_credentials(home_, "ghcr.io"), "alice", "hunter2");
}

TEST_F(LoadCredentials, MalformedFileIsAnErrorNamingIt)
{
    write(cocoon_file(), R"({"auths": {"ghcr.io": {"auth": ")" + alice_auth);
    write(docker_file(), auths("ghcr.io", auth_entry(colon_auth)));
    std::string message = error_of();
    EXPECT_NE(message.find(cocoon_file()), std::string::npos) << message;
    EXPECT_NE(message.find("not valid JSON"), std::string::npos) << message;
    EXPECT_EQ(message.find(alice_auth.substr(0, 8)), std::string::npos) << message;
}

TEST_F(LoadCredentials, NonRegularFilesAreRefused)
{
    std::filesystem::create_directories(cocoon_file());
    std::string message = error_of();
    EXPECT_NE(message.find(cocoon_file()), std::string::npos) << message;
    EXPECT_NE(message.find("not a regular file"), std::string::npos) << message;

    // A FIFO must give an error, not hang the step waiting for a writer.
    std::filesystem::remove(cocoon_file());
    ASSERT_EQ(mkfifo(cocoon_file().c_str(), 0600), 0);
    message = error_of();
    EXPECT_NE(message.find("not a regular file"), std::string::npos) << message;
}

TEST_F(LoadCredentials, OversizedFileIsRefused)
{
    write(docker_file(), auths("ghcr.io", auth_entry(alice_auth)) + std::string(1024 * 1024, ' '));
    std::string message = error_of();
    EXPECT_NE(message.find(docker_file()), std::string::npos) << message;
    EXPECT_NE(message.find("larger than 1048576 bytes"), std::string::npos) << message;
}

TEST_F(LoadCredentials, UnreadableFileIsAnError)
{
    if (geteuid() == 0)
        GTEST_SKIP() << "root reads any file";
    write(docker_file(), auths("ghcr.io", auth_entry(alice_auth)));
    ASSERT_EQ(chmod(docker_file().c_str(), 0), 0);
    std::string message = error_of();
    EXPECT_NE(message.find(docker_file()), std::string::npos) << message;
    EXPECT_NE(message.find("Permission denied"), std::string::npos) << message;
}
