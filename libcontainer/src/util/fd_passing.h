// Handing a descriptor to another process over a Unix socket (SCM_RIGHTS): how the
// plugin gives the holder a mount it prepared as root.
#pragma once

#include "cocoon/unique_fd.h"

namespace cocoon::sys {

// Sends `fd` with one byte of data; throws Error on failure.
void send_fd(int socket, int fd);

// Receives one descriptor sent by send_fd (close-on-exec); throws Error when the peer sent
// none or the stream ended.
UniqueFd receive_fd(int socket);

} // namespace cocoon::sys
