// The two holder-program sides of warm image mounts (cocoon/warm_mount.h): the image
// holder that keeps the mount, and a step holder that uses it.
#pragma once

#include <memory>

#include "cocoon/config.h"
#include "cocoon/image.h"
#include "cocoon/unique_fd.h"

namespace cocoon {

// Where an image holder keeps the sending end of its lease socket, for the plugin (root)
// to copy with pidfd_getfd. Fixed, so no message has to say it.
inline constexpr int warm_lease_fd = 100;
// The byte an image holder writes on a lease it accepted.
inline constexpr char warm_lease_ack = 'k';
// In the image holder's own mount namespace: a tmpfs over /tmp (seen by nobody else),
// and the image on it.
inline constexpr const char* warm_staging = "/tmp";
inline constexpr const char* warm_image_path = "/tmp/image";

// Step holder, before any namespace exists: with warm_mount_linger and a squashfs image,
// asks the plugin for a warm mount ("warm KEY"). On "warm" it joins the image holder's
// user namespace, copies its mount namespace (it is then in a private copy of it) and
// returns the image to mount in place of `image`; the lease it holds is released when
// the returned object goes. On "cold" (or without warm mounts) returns nullptr and the
// caller creates its namespaces as before.
std::unique_ptr<ImageSource> join_warm_mount(ImageSource& image, const Config& config,
                                             int status_fd, int control_fd);

// The holder's own namespaces, the usual way: a new user namespace (the parent writes its
// maps), the kernel mount of a trusted image when the parent gives one, a new mount
// namespace. In holder_program.cpp; the image holder uses it too.
void create_container_namespaces(ImageSource& image, int status_fd, int control_fd);

// The image holder's lease socket: returns the receiving end and places the sending end
// at warm_lease_fd (which must be free).
UniqueFd make_lease_socket();

// The image holder's count of steps: accepts leases sent to `receiver` (acknowledging
// each), drops those whose other end closed, and returns once none was held for
// `linger_seconds`.
void serve_leases(int receiver, uint64_t linger_seconds);

} // namespace cocoon
