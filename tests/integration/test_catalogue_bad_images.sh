#!/bin/bash
# Catalogue BI (bad images; docs/security.md), each as a directory image and as a squashfs:
#   BI-10  device nodes in an image cannot be opened inside (nodev)
#   BI-11  setuid and setgid files of an image give no privilege: the effective uid and
#          gid stay the user's (a setgid file of one of the user's mapped groups would
#          otherwise change the egid)
#   BI-15  a layer or the configuration of an OCI layout does not match its digest: the
#          import is refused naming the blob, nothing enters the cache
#   BI-19  the image's /dev or /tmp is a symbolic link to a host directory the user can
#          write: refused, and nothing is created there (test_security_symlink_targets
#          covers links inside the image)
#   BI-20  the image's /dev/null is a symlink to core_pattern and its /etc/passwd a FIFO:
#          the container's /dev/null is the device, /etc/passwd is generated, nothing hangs
#   BI-22  the image's /home is a symlink to /etc and /opt/d2 one to ../../..: the home
#          directory is still bound, inside the container
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/catalogue_lib.sh"
require_plugin
require_images
require_oci_fixtures

outside=/tmp/cocoon-catalogue-outside
cache=$TEST_WORK/catalogue-bad-images-cache
cleanup() {
    cancel_user_jobs
    rm -rf "$outside" "$cache"
    catalogue_cleanup
}
trap cleanup EXIT
rm -rf "$outside"
# Writable by the user: a holder that followed a link to it would succeed in writing.
install -d -m 0777 "$outside"
extra_gid=$(getent group "$TEST_EXTRA_GROUP" | cut -d: -f3)
user_gid=$(id -g "$TEST_USER")
ptmx_before=$(stat -c '%i %Y %a' /dev/ptmx)
core_before=$(cat /proc/sys/kernel/core_pattern)

# run_in IMAGE SCRIPT: one step in IMAGE running SCRIPT; it must succeed and end "done".
run_in() {
    local image=$1 script=$2
    wait_idle
    run_user timeout 60 srun --container="$image" sh -c "$IN_IMAGE; $script; echo done"
    [[ "$RC" != 124 ]] || fail "srun --container=$image hung"
    assert_succeeded "srun --container=$image"
    assert_eq "done" "$(tail -n1 <<<"$OUT")" "last line of the step in $image"
}

check_host_untouched() {
    [[ -z "$(ls -A "$outside")" ]] || fail "files created on the host in $outside: $(ls -A "$outside")"
    assert_eq "$ptmx_before" "$(stat -c '%i %Y %a' /dev/ptmx)" "host /dev/ptmx"
    assert_eq "$core_before" "$(cat /proc/sys/kernel/core_pattern)" "host core_pattern"
    [[ ! -e /etc/$TEST_USER ]] || fail "/etc/$TEST_USER was created on the host"
}

# --- BI-10 and BI-11 -------------------------------------------------------------------------------
probe=$(build_probe ids <<'C'
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("%u %u\n", (unsigned)geteuid(), (unsigned)getegid()); return 0; }
C
)
dir=$(variant_dir privileged)
mkdir -p "$dir/opt"
mknod -m 0666 "$dir/opt/zero" c 1 5
mknod -m 0666 "$dir/opt/null" c 1 3
install -m 4755 -o 0 -g 0 "$probe" "$dir/opt/suid-root"
install -m 2755 -o 0 -g "$extra_gid" "$probe" "$dir/opt/sgid-extra"
sqsh=$(variant_sqsh privileged)
for image in "$dir" "$sqsh"; do
    run_in "$image" '
        head -c1 /opt/zero >/dev/null 2>&1 && echo "device readable: /opt/zero"
        echo x 2>/dev/null >/opt/null && echo "device writable: /opt/null"
        echo "suid-root $(/opt/suid-root)"
        echo "sgid-extra $(/opt/sgid-extra)"'
    assert_not_contains "$OUT" "device " "device nodes of $image"
    assert_contains "$OUT" "suid-root $TEST_UID $user_gid" "ids from the setuid-root file of $image"
    assert_contains "$OUT" "sgid-extra $TEST_UID $user_gid" "ids from the setgid file of $image"
done

# --- BI-15 ------------------------------------------------------------------------------------------
mapfile -t blobs < <(layout_blobs "$IMAGES/oci/busybox")
(( ${#blobs[@]} >= 2 )) || fail "unexpected blobs in $IMAGES/oci/busybox: ${blobs[*]}"
# The configuration (first) and the last layer, each tampered with in a copy of its own.
for blob in "${blobs[0]}" "${blobs[-1]}"; do
    layout=$CATALOGUE_DIR/tampered-${blob#sha256:}
    cp -a "$IMAGES/oci/busybox" "$layout"
    printf 'x' >> "$layout/blobs/sha256/${blob#sha256:}"
    chmod -R a+rX "$layout"
    wait_idle
    run_user env COCOON_CACHE_DIR="$cache" timeout 90 srun --container="oci:$layout:latest" true
    [[ "$RC" != 124 ]] || fail "srun with the tampered blob $blob hung"
    assert_failed "srun with the tampered blob $blob"
    assert_contains "$ERR" "blob $blob has the digest sha256:" "error for the tampered blob"
    assert_contains "$ERR" "refusing it" "error for the tampered blob"
    [[ -z "$(find "$cache" -name '*.sqsh' 2>/dev/null)" ]] ||
        fail "an image entered the cache from a tampered layout: $(find "$cache" -name '*.sqsh')"
    assert_cache_clean "$cache"
done
# A layer blob is checked when the image is converted, not on each use: once the intact
# layout is cached, a copy whose layer blob changed under the same (checked) manifest is
# served from the cache by the manifest's digest, and its blobs are never read.
wait_idle
run_user env COCOON_CACHE_DIR="$cache" timeout 90 srun --container="oci:$IMAGES/oci/busybox:latest" true
assert_succeeded "srun with the intact layout"
layout=$CATALOGUE_DIR/tampered-${blobs[-1]#sha256:}
wait_idle
run_user env COCOON_CACHE_DIR="$cache" timeout 90 srun --container="oci:$layout:latest" true
assert_succeeded "srun with a changed layer blob under a manifest already cached"
assert_not_contains "$ERR" "refusing it" "stderr of the step served from the cache"

# --- BI-19 ------------------------------------------------------------------------------------------
# Links to a host directory the user may write to: followed, the container's /dev and
# /tmp would be made there. Refused instead (each alone, so each refusal is seen).
for target in dev tmp; do
    dir=$(variant_dir "link-$target")
    rm -rf "${dir:?}/$target"
    ln -s "$outside" "$dir/$target"
    sqsh=$(variant_sqsh "link-$target")
    for image in "$dir" "$sqsh"; do
        wait_idle
        run_user timeout 60 srun --container="$image" true
        [[ "$RC" != 124 ]] || fail "srun --container=$image hung"
        assert_failed "srun --container=$image (/$target is a link to $outside)"
        assert_contains "$ERR" "cocoon: error: --container=$image: the image has a symbolic link at /$target" \
            "error for $image"
        check_host_untouched
    done
done

# --- BI-20 ------------------------------------------------------------------------------------------
dir=$(variant_dir hostile-files)
ln -sfn /proc/sys/kernel/core_pattern "$dir/dev/null"
rm -f "$dir/etc/passwd"
mkfifo -m 0644 "$dir/etc/passwd"
sqsh=$(variant_sqsh hostile-files)
for image in "$dir" "$sqsh"; do
    run_in "$image" '
        [ -c /dev/null ] || echo "not a device: /dev/null"
        echo "user $(id -un)"'
    assert_not_contains "$OUT" "not a device" "/dev/null of $image"
    assert_contains "$OUT" "user $TEST_USER" "the generated /etc/passwd of $image"
    check_host_untouched
done

# --- BI-22 ------------------------------------------------------------------------------------------
dir=$(variant_dir home-link)
rm -rf "${dir:?}/home"
ln -s /etc "$dir/home"
mkdir -p "$dir/opt"
ln -s ../../.. "$dir/opt/d2"
sqsh=$(variant_sqsh home-link)
echo "bound" > "$TEST_WORK/catalogue-bound"
chown "$TEST_USER" "$TEST_WORK/catalogue-bound"
for image in "$dir" "$sqsh"; do
    run_in "$image" "cat '$TEST_WORK/catalogue-bound'; ls /opt/d2/ >/dev/null"
    assert_contains "$OUT" bound "the home directory in $image"
    check_host_untouched
done
rm -f "$TEST_WORK/catalogue-bound"

cleanup
assert_no_leftovers
assert_node_healthy
pass
