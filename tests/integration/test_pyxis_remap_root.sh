#!/bin/bash
# --container-remap-root: the user is uid 0 (and gid 0) in the container, with no
# privilege on the host. As root there, what package managers do works as far as one
# mapped uid allows: chown to root, writing /root, /var and /etc, setting modes. Files
# written to bind mounts still belong to the user on the host. PYXIS_CONTAINER_REMAP_ROOT
# asks for the same; --no-container-remap-root wins over it.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

out=$TEST_WORK/remap-root
cleanup() {
    rm -rf "$out"
}
trap cleanup EXIT
cleanup
install -d -o "$TEST_USER" "$out"
img=--container-image=$BUSYBOX_SQSH

run_user srun "$img" --container-remap-root --container-mounts="$out:/out" sh -c "$IN_IMAGE"'
id -u; id -g
echo pkg > /etc/pkg.conf && chown 0:0 /etc/pkg.conf && chmod 0600 /etc/pkg.conf && stat -c "%u:%g %a" /etc/pkg.conf
mkdir -p /root/.cache/pip /var/lib/pkg && echo state > /var/lib/pkg/status && echo root-and-var-ok
chown 12345 /etc/pkg.conf 2>/dev/null || echo "chown to an unmapped uid refused"
echo result > /out/file && chown 0:0 /out/file && echo bind-ok
echo "home=$HOME user=$(id -un)"
grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status'
assert_succeeded "srun --container-remap-root"
lines=$OUT
assert_eq 0 "$(sed -n 1p <<<"$lines")" "uid with --container-remap-root"
assert_eq 0 "$(sed -n 2p <<<"$lines")" "gid with --container-remap-root"
assert_contains "$lines" "0:0 600" "chown 0:0 and chmod of a file in the writable root"
assert_contains "$lines" root-and-var-ok "writing /root and /var"
assert_contains "$lines" "chown to an unmapped uid refused" "chown to an unmapped uid"
assert_contains "$lines" bind-ok "writing and chown in a bind mount"
assert_contains "$lines" "user=root" "user name inside"
assert_contains "$lines" "home=$TEST_HOME" "HOME inside (the job's)"
assert_contains "$lines" "NoNewPrivs:	1" "no_new_privs as root inside"
[[ -f "$out/file" ]] || fail "the file written to the bind mount is not on the host"
assert_eq "$TEST_USER:$(id -gn "$TEST_USER")" "$(stat -c %U:%G "$out/file")" "owner on the host of the file root wrote"

# Root inside has no privilege outside: the host's root-owned files stay closed.
wait_idle
run_user srun "$img" --container-remap-root --container-mounts=/etc/shadow:/shadow sh -c "$IN_IMAGE; cat /shadow 2>&1"
assert_contains "$OUT" "Permission denied" "reading the host's /etc/shadow as root inside"

# The variable, and the command line winning over it.
wait_idle
run_user env PYXIS_CONTAINER_REMAP_ROOT=1 srun "$img" sh -c "$IN_IMAGE; id -u"
assert_eq 0 "$OUT" "uid with PYXIS_CONTAINER_REMAP_ROOT=1"
wait_idle
run_user env PYXIS_CONTAINER_REMAP_ROOT=1 srun --no-container-remap-root "$img" sh -c "$IN_IMAGE; id -u"
assert_eq "$TEST_UID" "$OUT" "uid with --no-container-remap-root over PYXIS_CONTAINER_REMAP_ROOT=1"
wait_idle
run_user srun "$img" sh -c "$IN_IMAGE; id -u; grep CapEff /proc/self/status"
assert_eq "$TEST_UID"$'\n'"CapEff:	0000000000000000" "$OUT" "uid and capabilities by default"

cleanup
assert_no_leftovers
assert_node_healthy
pass
