#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "cocoon/error.h"
#include "cocoon/unique_fd.h"
#include "util/sys.h"

using cocoon::Error;
using cocoon::ErrorKind;

TEST(Error, AnInputOverItsLimitIsOfKindTooLarge)
{
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    cocoon::UniqueFd read_end(fds[0]), write_end(fds[1]);
    ASSERT_EQ(write(write_end.get(), "0123456789", 10), 10);
    write_end.reset();
    try {
        cocoon::sys::read_file(read_end.get(), 4);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::TooLarge);
        EXPECT_EQ(e.error_number(), 0);
    }
}

TEST(Error, WrapKeepsTheKindAndTheErrno)
{
    Error large(ErrorKind::TooLarge, "file is larger than 4 bytes");
    Error wrapped = large.wrap("cannot read x");
    EXPECT_EQ(wrapped.kind(), ErrorKind::TooLarge);
    EXPECT_STREQ(wrapped.what(), "cannot read x: file is larger than 4 bytes");
    Error system("open: denied", EACCES);
    EXPECT_EQ(system.wrap("y").kind(), ErrorKind::Other);
    EXPECT_EQ(system.wrap("y").error_number(), EACCES);
}
