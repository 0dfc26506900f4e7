// Kept registry tokens (image/token_store.h): what a token is kept under, how long it is
// good for, and that a damaged or foreign file is never taken for one.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "image/token_store.h"

using namespace cocoon;
namespace fs = std::filesystem;

namespace {

class TokenStoreTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string pattern = (fs::temp_directory_path() / "cocoon-tokens-XXXXXX").string();
        ASSERT_TRUE(mkdtemp(pattern.data()));
        dir_ = pattern;
        store_.emplace(UniqueFd(open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)));
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string dir_;
    std::optional<TokenStore> store_;
    const time_t now_ = 1'800'000'000;
};

} // namespace

TEST(TokenKey, NamesRegistryRepositoryAndCredentials)
{
    std::string anonymous = TokenStore::key("docker.io", "library/ubuntu", std::nullopt);
    EXPECT_EQ(anonymous.size(), 64u);
    EXPECT_EQ(anonymous, TokenStore::key("docker.io", "library/ubuntu", std::nullopt));
    EXPECT_NE(anonymous, TokenStore::key("ghcr.io", "library/ubuntu", std::nullopt));
    EXPECT_NE(anonymous, TokenStore::key("docker.io", "library/debian", std::nullopt));
    Credentials alice{"alice", "secret"};
    Credentials other_password{"alice", "other"};
    EXPECT_NE(anonymous, TokenStore::key("docker.io", "library/ubuntu", alice));
    EXPECT_NE(TokenStore::key("docker.io", "library/ubuntu", alice),
              TokenStore::key("docker.io", "library/ubuntu", other_password));
    // No part of the credentials in the key (it is a file name).
    EXPECT_EQ(TokenStore::key("docker.io", "library/ubuntu", alice).find("secret"),
              std::string::npos);
}

TEST_F(TokenStoreTest, AKeptTokenIsGoodUntilShortlyBeforeItExpires)
{
    store_->remember("k", "token-1", 300, now_);
    EXPECT_EQ(store_->find("k", now_), "token-1");
    EXPECT_EQ(store_->find("k", now_ + 280), "token-1");
    EXPECT_FALSE(store_->find("k", now_ + 295)) << "too close to its expiry";
    EXPECT_FALSE(store_->find("other", now_));
    struct stat st {};
    ASSERT_EQ(stat((dir_ + "/k").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(TokenStoreTest, ShortLivedTokensAreNotKeptAndLongOnesAtMostAnHour)
{
    store_->remember("short", "token", 10, now_);
    EXPECT_FALSE(fs::exists(dir_ + "/short"));
    store_->remember("long", "token", 86400, now_);
    EXPECT_EQ(store_->find("long", now_ + 3000), "token");
    EXPECT_FALSE(store_->find("long", now_ + 3600));
}

TEST_F(TokenStoreTest, ANewTokenReplacesTheOld)
{
    store_->remember("k", "old", 300, now_);
    store_->remember("k", "new", 300, now_ + 100);
    EXPECT_EQ(store_->find("k", now_ + 350), "new");
}

TEST_F(TokenStoreTest, DamagedOrLinkedFilesAreNoTokens)
{
    std::ofstream(dir_ + "/damaged") << "{\"token\": ";
    EXPECT_FALSE(store_->find("damaged", now_));
    std::ofstream(dir_ + "/empty") << "{\"token\": \"\", \"expires_at\": 1900000000}";
    EXPECT_FALSE(store_->find("empty", now_));
    store_->remember("real", "token", 300, now_);
    fs::create_symlink(dir_ + "/real", dir_ + "/link");
    EXPECT_FALSE(store_->find("link", now_));
}
