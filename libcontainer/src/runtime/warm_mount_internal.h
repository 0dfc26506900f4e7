// The two holder-program sides of warm image mounts (cocoon/warm_mount.h): the image
// holder that keeps the mount, and a step holder that uses it.
#pragma once

#include <memory>

#include "cocoon/config.h"
#include "cocoon/image.h"
#include "cocoon/spec.h"
#include "cocoon/unique_fd.h"
#include "runtime/overlay_pool.h"

namespace cocoon {

// Where an image holder keeps the sending end of its lease socket, for the plugin (root)
// to copy with pidfd_getfd. Fixed, so no message has to say it.
inline constexpr int warm_lease_fd = 100;
// The byte an image holder writes on a lease it accepted.
inline constexpr char warm_lease_ack = 'k';
// The byte a step holder writes on its lease to ask for the image holder's inner user
// namespace; the answer is the namespace's descriptor, or warm_none without one.
inline constexpr char warm_inner_request = 'u';
// The answer to a request for a descriptor (above, below) that the image holder does not give.
inline constexpr char warm_none = 'n';
// With a writable root: the byte a step holder writes to ask for a kept overlay
// (overlay_pool.h), followed by its plan's key and its writable size (8 bytes each, in
// this machine's order); the answer is a detached overlay, or warm_none without one.
// Once its root is built it writes warm_setup_done and waits for warm_lease_ack before any
// task starts: the image holder has then taken the snapshot that tells the overlay's later
// changes. Without the answer in time it writes warm_setup_unconfirmed, and the overlay is
// not kept.
inline constexpr char warm_overlay_request = 'o';
inline constexpr char warm_setup_done = 's';
inline constexpr char warm_setup_unconfirmed = 'x';
// In the image holder's own mount namespace: a tmpfs over /tmp (seen by nobody else),
// and the image on it.
inline constexpr const char* warm_staging = "/tmp";
inline constexpr const char* warm_image_path = "/tmp/image";

// The image holder's mount, cloned into a step's mount namespace, mounted in place of the
// step's own image. It holds the step's lease for as long as the step's holder lives.
class WarmImage final : public ImageSource {
public:
    WarmImage(ImageSource& image, UniqueFd clone, UniqueFd lease);
    void mount(const std::string& target) override;
    void stop() noexcept override { image_.stop(); }
    std::string config() const override { return image_.config(); }
    std::string mount_identity() const override { return image_.mount_identity(); }
    // The image holder's inner user namespace (make_inner_user_namespace, made once for
    // every step it serves), asked for on the lease; invalid when it has none or does not
    // answer within a second, and the step makes its own.
    UniqueFd inner_user_namespace() const;
    // A writable root the image holder kept for a step with the same plan, or a new one of
    // its own (detached, for assemble_rootfs); invalid when it gives none within a second,
    // and the step mounts its own. Once the root is built, setup_done() tells it so.
    UniqueFd writable_root(uint64_t plan_key, uint64_t size);
    void setup_done() const;

private:
    UniqueFd answer(const char* what) const;

    ImageSource& image_;
    UniqueFd clone_;
    UniqueFd lease_;
    // An answer did not come in time: one that comes later must not be taken for the
    // answer to another request, so no more are made.
    mutable bool unanswered_ = false;
};

// Step holder, before any namespace exists: with warm_mount_linger and a squashfs image,
// asks the plugin for a warm mount ("warm KEY"). On "warm" it joins the image holder's
// user namespace, copies its mount namespace (it is then in a private copy of it) and
// returns the image to mount in place of `image`; the lease it holds is released when
// the returned object goes. On "cold" (or without warm mounts) returns nullptr and the
// caller creates its namespaces as before.
std::unique_ptr<WarmImage> join_warm_mount(ImageSource& image, const Config& config, int status_fd,
                                           int control_fd);

// The holder's own namespaces, the usual way: a new user namespace (the parent writes its
// maps), the kernel mount of a trusted image when the parent gives one, a new mount
// namespace. In holder_program.cpp; the image holder uses it too.
void create_container_namespaces(ImageSource& image, int status_fd, int control_fd);

// The user namespace the tasks of a writable container without --container-remap-root
// run in: a child of the holder's (outer) user namespace, where the user, uid 0 outside,
// is themselves again. Made by a child process whose maps this process writes, so it must
// be privileged in the outer namespace; returns a descriptor of it (the child has ended).
// In holder_program.cpp; the image holder makes it once for all its steps.
UniqueFd make_inner_user_namespace(const Identity& identity);

// The image holder's lease socket: returns the receiving end and places the sending end
// at warm_lease_fd (which must be free).
UniqueFd make_lease_socket();

// The image holder's count of steps: accepts leases sent to `receiver` (acknowledging
// each), answers a step that asks for `inner_user_namespace` (-1: none) or for a writable
// root (from `overlays`; nullptr: none), drops leases whose other end closed (releasing
// their overlays), and returns once none was held for `linger_seconds`.
void serve_leases(int receiver, uint64_t linger_seconds, int inner_user_namespace,
                  OverlayPool* overlays = nullptr);

} // namespace cocoon
