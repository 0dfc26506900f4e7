#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "cocoon/error.h"
#include "temp_dir.h"
#include "util/safe_dir.h"

using namespace cocoon;
namespace fs = std::filesystem;

namespace {

// Runs as root (uid 0 is "the caller"); another user is simulated with an unused uid.
constexpr uid_t other_uid = 54321;

std::string error_of(const std::function<void()>& action)
{
    try {
        action();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

class TrustedProgram : public ::testing::Test {
protected:
    void SetUp() override
    {
        dir_ = temp_.path();
        program_ = dir_ + "/tool";
        std::ofstream(program_) << "#!/bin/sh\n";
        chmod(program_.c_str(), 0755);
    }
    std::string open_error(const std::string& path)
    {
        return error_of([&] { sys::open_trusted_program(path, "the tool"); });
    }
    cocoon::test::TempDir temp_{"cocoon-program-test", 0755};
    std::string dir_;
    std::string program_;
};

} // namespace

TEST_F(TrustedProgram, ARootOwnedProgramInRootOwnedDirectoriesOpens)
{
    EXPECT_EQ(open_error(program_), "");
    EXPECT_TRUE(sys::open_trusted_program("/bin/sh", "sh").valid()) << "through /bin -> usr/bin";
}

TEST_F(TrustedProgram, AProgramOthersCouldReplaceIsRefused)
{
    chmod(program_.c_str(), 0775);
    EXPECT_NE(open_error(program_).find("refusing the tool " + program_), std::string::npos)
        << open_error(program_);
    chmod(program_.c_str(), 0755);
    ASSERT_EQ(chown(program_.c_str(), other_uid, other_uid), 0);
    EXPECT_NE(open_error(program_).find("owned by root"), std::string::npos);
    ASSERT_EQ(chown(program_.c_str(), 0, 0), 0);

    chmod(dir_.c_str(), 0777);
    EXPECT_NE(open_error(program_).find("the directory of the tool"), std::string::npos)
        << open_error(program_);
    chmod(dir_.c_str(), 0755);
}

TEST_F(TrustedProgram, ALinkIsFollowedAndItsTargetChecked)
{
    std::string link = dir_ + "/link";
    ASSERT_EQ(symlink("tool", link.c_str()), 0);
    EXPECT_EQ(open_error(link), "");
    chmod(program_.c_str(), 0777);
    EXPECT_NE(open_error(link).find("refusing the tool " + program_), std::string::npos)
        << open_error(link);
    std::string loop = dir_ + "/loop";
    ASSERT_EQ(symlink("loop", loop.c_str()), 0);
    EXPECT_NE(open_error(loop), "") << "a link to itself ends with an error";
}

TEST_F(TrustedProgram, AMissingProgramIsNamed)
{
    EXPECT_NE(open_error(dir_ + "/absent").find("cannot open the tool " + dir_ + "/absent"),
              std::string::npos);
}
