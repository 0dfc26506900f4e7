#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "cocoon/unique_fd.h"
#include "util/log_pipe.h"

using cocoon::UniqueFd;
using cocoon::sys::max_log_pipe_line;
using cocoon::sys::OutputForwarder;
using cocoon::sys::write_log_line;

namespace {

struct Pipe {
    UniqueFd read, write;
    explicit Pipe(int flags = 0)
    {
        int fds[2];
        EXPECT_EQ(pipe2(fds, O_CLOEXEC | flags), 0);
        read = UniqueFd(fds[0]);
        write = UniqueFd(fds[1]);
    }
};

std::string drain(int fd)
{
    std::string text;
    char buffer[65536];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof(buffer))) > 0;)
        text.append(buffer, static_cast<size_t>(n));
    return text;
}

void put(int fd, const std::string& text)
{
    ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
}

} // namespace

TEST(LogPipe, ForwardsEachLineWithItsSource)
{
    Pipe log(O_NONBLOCK);
    Pipe child;
    OutputForwarder forwarder("squashfuse", std::move(child.read), log.write.get());
    put(child.write.get(), "first\nsecond\nthe start of a ");
    EXPECT_TRUE(forwarder.pump());
    EXPECT_EQ(drain(log.read.get()), "squashfuse: first\nsquashfuse: second\n");
    put(child.write.get(), "third\n");
    child.write.reset();
    forwarder.finish();
    EXPECT_EQ(drain(log.read.get()), "squashfuse: the start of a third\n");
    EXPECT_EQ(forwarder.fd(), -1);
    EXPECT_EQ(forwarder.dropped(), 0u);
}

TEST(LogPipe, FinishWritesTheLastLineWithoutItsEnd)
{
    Pipe log(O_NONBLOCK);
    Pipe child;
    OutputForwarder forwarder("holder", std::move(child.read), log.write.get());
    put(child.write.get(), "no newline");
    // The child still runs (its end is open): finish does not wait for it.
    forwarder.finish();
    EXPECT_EQ(drain(log.read.get()), "holder: no newline\n");
}

TEST(LogPipe, ALongLineIsCutToOneLogLine)
{
    Pipe log(O_NONBLOCK);
    Pipe child;
    OutputForwarder forwarder("s", std::move(child.read), log.write.get());
    put(child.write.get(), std::string(10000, 'x') + "\nnext\n");
    child.write.reset();
    forwarder.finish();
    std::string text = drain(log.read.get());
    auto first = text.substr(0, text.find('\n') + 1);
    EXPECT_EQ(first.size(), max_log_pipe_line);
    EXPECT_EQ(first, "s: " + std::string(max_log_pipe_line - 4, 'x') + "\n");
    EXPECT_EQ(text.substr(first.size()), "s: next\n");
}

TEST(LogPipe, AFullPipeDropsAndCountsLinesWithoutBlocking)
{
    Pipe log(O_NONBLOCK);
    // Fill the log pipe to the last byte: nobody reads it until the end of the step.
    std::string filler(4096, 'f');
    while (::write(log.write.get(), filler.data(), filler.size()) > 0) {
    }
    while (::write(log.write.get(), "f", 1) > 0) {
    }
    Pipe child;
    OutputForwarder forwarder("squashfuse", std::move(child.read), log.write.get());
    put(child.write.get(), "lost one\nlost two\n");
    child.write.reset();
    forwarder.pump();
    EXPECT_EQ(forwarder.dropped(), 2u);
    // Once there is room again, the count reaches the log.
    std::string all = drain(log.read.get());
    EXPECT_EQ(all.find("lost"), std::string::npos);
    forwarder.finish();
    EXPECT_EQ(drain(log.read.get()), "squashfuse: 2 lines left out (the log pipe was full)\n");
}

TEST(LogPipe, AtTheFirstDropALineSaysThatWhatFollowsIsLeftOut)
{
    Pipe log(O_NONBLOCK);
    // Fill the pipe but for 1500 bytes: less than the room kept for the two closing lines.
    int capacity = fcntl(log.write.get(), F_GETPIPE_SZ);
    ASSERT_GT(capacity, 4096);
    std::string filler(static_cast<size_t>(capacity) - 1500, 'f');
    for (size_t at = 0; at < filler.size(); at += 4096) {
        size_t n = std::min<size_t>(4096, filler.size() - at);
        ASSERT_EQ(::write(log.write.get(), filler.data() + at, n), static_cast<ssize_t>(n));
    }
    Pipe child;
    OutputForwarder forwarder("squashfuse", std::move(child.read), log.write.get());
    put(child.write.get(), "lost one\nlost two\n");
    forwarder.pump();
    EXPECT_EQ(forwarder.dropped(), 2u);
    std::string text = drain(log.read.get());
    EXPECT_EQ(text.substr(filler.size()),
              "squashfuse: the log pipe is full: what follows is left out\n");
}

TEST(LogPipe, WriteLogLineFailsOnAFullPipeAndWritesWholeLines)
{
    Pipe log(O_NONBLOCK);
    std::string filler(4096, 'f');
    while (::write(log.write.get(), filler.data(), filler.size()) > 0) {
    }
    while (::write(log.write.get(), "f", 1) > 0) {
    }
    EXPECT_FALSE(write_log_line(log.write.get(), "holder", "lost"));
    drain(log.read.get());
    EXPECT_TRUE(write_log_line(log.write.get(), "holder", "kept"));
    EXPECT_EQ(drain(log.read.get()), "holder: kept\n");
}
