#include "fd_passing.h"

#include <sys/socket.h>

#include <cstring>

#include "cocoon/error.h"

namespace cocoon::sys {

namespace {

// One byte of data with room for one descriptor: the message both sides exchange.
struct FdMessage {
    char byte = 'f';
    struct iovec data = {&byte, 1};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr header {};

    FdMessage()
    {
        header.msg_iov = &data;
        header.msg_iovlen = 1;
        header.msg_control = control;
        header.msg_controllen = sizeof(control);
    }
    FdMessage(const FdMessage&) = delete; // the header points into the message itself
    FdMessage& operator=(const FdMessage&) = delete;
};

} // namespace

void send_fd(int socket, int fd)
{
    FdMessage message;
    struct cmsghdr* rights = CMSG_FIRSTHDR(&message.header);
    rights->cmsg_level = SOL_SOCKET;
    rights->cmsg_type = SCM_RIGHTS;
    rights->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(rights), &fd, sizeof(int));
    ssize_t sent;
    do {
        sent = sendmsg(socket, &message.header, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent != 1)
        throw_errno("cannot pass a descriptor to another process");
}

UniqueFd receive_fd(int socket)
{
    FdMessage message;
    ssize_t received;
    do {
        received = recvmsg(socket, &message.header, MSG_CMSG_CLOEXEC);
    } while (received < 0 && errno == EINTR);
    if (received < 0)
        throw_errno("cannot receive a descriptor");
    struct cmsghdr* rights = CMSG_FIRSTHDR(&message.header);
    if (received != 1 || (message.header.msg_flags & MSG_CTRUNC) || !rights ||
        rights->cmsg_level != SOL_SOCKET || rights->cmsg_type != SCM_RIGHTS ||
        rights->cmsg_len != CMSG_LEN(sizeof(int)))
        fail("expected a descriptor from the other process, got none");
    int fd;
    std::memcpy(&fd, CMSG_DATA(rights), sizeof(int));
    return UniqueFd(fd);
}

} // namespace cocoon::sys
