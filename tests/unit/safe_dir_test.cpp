#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
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

class DeadTemporary : public ::testing::Test {
protected:
    void SetUp() override
    {
        dir_ = UniqueFd(open(temp_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        std::ofstream(path("r.tmp.7")) << "{";
    }
    std::string path(const std::string& name) const { return temp_.path() + "/" + name; }
    void age(const std::string& name, time_t seconds) const
    {
        struct timespec times[2] = {{time(nullptr) - seconds, 0}, {time(nullptr) - seconds, 0}};
        ASSERT_EQ(utimensat(dir_.get(), name.c_str(), times, 0), 0);
    }
    cocoon::test::TempDir temp_{"cocoon-temporary-test"};
    UniqueFd dir_;
};

TEST_F(DeadTemporary, AnUnlockedTemporaryPastItsSettlingTimeIsDead)
{
    age("r.tmp.7", 2);
    EXPECT_TRUE(sys::is_dead_temporary(dir_.get(), "r.tmp.7", 1));
}

TEST_F(DeadTemporary, AFreshTemporaryMayNotBeLockedYet)
{
    EXPECT_FALSE(sys::is_dead_temporary(dir_.get(), "r.tmp.7", 1));
    EXPECT_TRUE(sys::is_dead_temporary(dir_.get(), "r.tmp.7", 0));
}

TEST_F(DeadTemporary, ALockedTemporaryIsAWriterAtWork)
{
    age("r.tmp.7", 3600);
    UniqueFd writer(open(path("r.tmp.7").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_EQ(flock(writer.get(), LOCK_EX), 0);
    EXPECT_FALSE(sys::is_dead_temporary(dir_.get(), "r.tmp.7", 0));
    writer.reset();
    EXPECT_TRUE(sys::is_dead_temporary(dir_.get(), "r.tmp.7", 0));
}

TEST_F(DeadTemporary, OnlyARegularFileCounts)
{
    ASSERT_EQ(symlink("r.tmp.7", path("s.tmp.1").c_str()), 0);
    ASSERT_EQ(mkdir(path("d.tmp.1").c_str(), 0700), 0);
    EXPECT_FALSE(sys::is_dead_temporary(dir_.get(), "s.tmp.1", 0));
    EXPECT_FALSE(sys::is_dead_temporary(dir_.get(), "d.tmp.1", 0));
    EXPECT_FALSE(sys::is_dead_temporary(dir_.get(), "missing.tmp.1", 0));
}

TEST_F(DeadTemporary, AWrittenFileLeavesNoTemporaryBehind)
{
    sys::write_file_atomically(dir_.get(), "record", "{}", 0644, "the record");
    EXPECT_TRUE(fs::exists(path("record")));
    EXPECT_FALSE(fs::exists(path("record.tmp." + std::to_string(getpid()))));
}
