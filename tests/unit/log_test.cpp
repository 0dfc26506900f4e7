#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "cocoon/log.h"

using cocoon::LogLevel;

namespace {

std::vector<std::pair<LogLevel, std::string>> received;

void record(LogLevel level, std::string_view message)
{
    received.emplace_back(level, std::string(message));
}

class Log : public ::testing::Test {
protected:
    void SetUp() override { received.clear(); }
    void TearDown() override { cocoon::set_log_sink(nullptr); }
};

} // namespace

TEST_F(Log, WithoutASinkNothingIsLoggedOrEnabled)
{
    cocoon::set_log_sink(nullptr);
    EXPECT_FALSE(cocoon::log_enabled(LogLevel::Error));
    cocoon::log(LogLevel::Error, "lost {}", 1);
    EXPECT_TRUE(received.empty());
}

TEST_F(Log, MessagesMoreDetailedThanTheChosenLevelAreDropped)
{
    cocoon::set_log_sink(record, LogLevel::Verbose);
    cocoon::log(LogLevel::Info, "info {}", 1);
    cocoon::log(LogLevel::Verbose, "verbose");
    cocoon::log(LogLevel::Debug, "debug");
    ASSERT_EQ(received.size(), 2u);
    EXPECT_EQ(received[0], std::make_pair(LogLevel::Info, std::string("info 1")));
    EXPECT_EQ(received[1].second, "verbose");
}

TEST_F(Log, ControlCharactersAreEscaped)
{
    cocoon::set_log_sink(record);
    cocoon::log_message(LogLevel::Info, "a\x1b[2Jb\rc");
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].second, "a\\x1b[2Jb\\x0dc");
}

TEST_F(Log, AProgramsOutputBecomesOneMessagePerLineBoundedInSize)
{
    cocoon::set_log_sink(record);
    cocoon::log_output(LogLevel::Info, "squashfuse", "first\n\nsecond\x07\nthird-is-cut", 20);
    ASSERT_EQ(received.size(), 4u);
    EXPECT_EQ(received[0].second, "squashfuse: first");
    EXPECT_EQ(received[1].second, "squashfuse: second\\x07");
    EXPECT_EQ(received[2].second, "squashfuse: third");
    EXPECT_EQ(received[3].second, "squashfuse: (more output left out)");
}
