#!/bin/bash
# --container-mounts (a directory read-only, a relative source, a file, umount: of a
# default mount), --container-workdir and --no-container-mount-home, each also from its
# PYXIS_CONTAINER_* / COCOON_CONTAINER_* variable, the command line winning.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

data=$TEST_WORK/pyxis-mounts
cleanup() {
    rm -rf "$data" "$TEST_HOME/.pyxis-home-marker"
}
trap cleanup EXIT
cleanup
install -d -o "$TEST_USER" "$data" "$data/dir"
echo in-dir > "$data/dir/file"
echo a-file > "$data/single"
echo home-marker > "$TEST_HOME/.pyxis-home-marker"
chown -R "$TEST_USER" "$data" "$TEST_HOME/.pyxis-home-marker"
img=--container-image=$BUSYBOX_SQSH

# A directory read-only, a relative source (from the working directory), a file.
run_user srun "$img" --container-mounts="$data/dir:/in:ro,pyxis-mounts/dir:/rel,pyxis-mounts/single:/etc/single" \
    sh -c "$IN_IMAGE; cat /in/file /rel/file /etc/single; touch /in/new 2>&1; touch /rel/new && echo rel-writable"
assert_succeeded "srun --container-mounts"
assert_contains "$OUT" $'in-dir\nin-dir\na-file' "files seen through the mounts"
assert_contains "$OUT" "Read-only file system" "touch in a ro mount"
assert_contains "$OUT" rel-writable "touch in a rw mount"
[[ -f "$data/dir/new" ]] || fail "a file written through the rw mount is not on the host"
assert_eq "$TEST_USER" "$(stat -c %U "$data/dir/new")" "owner on the host of a file written in the container"
rm -f "$data/dir/new"

# umount: leaves out a default mount (the host's /etc/hosts; the image has none).
[[ ! -e "$BUSYBOX_DIR/etc/hosts" && -e /etc/hosts ]] || fail "expected /etc/hosts on the host only"
wait_idle
run_user srun "$img" --container-mounts=umount:/etc/hosts sh -c "$IN_IMAGE; ls /etc/hosts 2>&1; ls /etc/resolv.conf"
assert_succeeded "srun --container-mounts=umount:/etc/hosts"
assert_contains "$OUT" "/etc/hosts: No such file or directory" "/etc/hosts left out"

# The variables, and the command line winning over them.
wait_idle
run_user env PYXIS_CONTAINER_MOUNTS="$data/dir:/from-env" srun "$img" sh -c "$IN_IMAGE; cat /from-env/file"
assert_succeeded "PYXIS_CONTAINER_MOUNTS"
assert_eq in-dir "$OUT" "file through a mount from PYXIS_CONTAINER_MOUNTS"
wait_idle
run_user env PYXIS_CONTAINER_MOUNTS="$data/dir:/from-env" srun "$img" --container-mounts="$data/dir:/from-cli" \
    sh -c "$IN_IMAGE; ls -d /from-cli /from-env 2>&1"
assert_contains "$OUT" /from-cli "mount of the command line"
assert_contains "$OUT" "/from-env: No such file or directory" "mount of the variable, overridden"
wait_idle
run_user env PYXIS_CONTAINER_MOUNTS="$data/dir:/pyxis" COCOON_CONTAINER_MOUNTS="$data/dir:/cocoon" srun "$img" \
    sh -c "$IN_IMAGE; ls -d /cocoon /pyxis 2>&1"
assert_contains "$OUT" /cocoon "COCOON_CONTAINER_MOUNTS"
assert_contains "$OUT" "/pyxis: No such file or directory" "PYXIS_CONTAINER_MOUNTS beside COCOON_CONTAINER_MOUNTS"

# --container-workdir, its variable, the command line first.
wait_idle
run_user srun "$img" --container-workdir=/usr/bin sh -c "$IN_IMAGE; pwd"
assert_eq /usr/bin "$OUT" "working directory with --container-workdir"
wait_idle
run_user env PYXIS_CONTAINER_WORKDIR=/etc srun "$img" sh -c "$IN_IMAGE; pwd"
assert_eq /etc "$OUT" "working directory with PYXIS_CONTAINER_WORKDIR"
wait_idle
run_user env PYXIS_CONTAINER_WORKDIR=/etc srun "$img" --container-workdir=/usr sh -c "$IN_IMAGE; pwd"
assert_eq /usr "$OUT" "working directory with both"
wait_idle
run_user srun "$img" sh -c "$IN_IMAGE; pwd"
assert_eq "$TEST_WORK" "$OUT" "working directory by default (an image without WorkingDir)"

# --no-container-mount-home (the working directory, under home, is still bound).
wait_idle
run_user srun "$img" --no-container-mount-home sh -c "$IN_IMAGE; cat $TEST_HOME/.pyxis-home-marker 2>&1"
assert_contains "$OUT" "No such file or directory" "home file with --no-container-mount-home"
wait_idle
run_user env PYXIS_CONTAINER_MOUNT_HOME=0 srun "$img" sh -c "$IN_IMAGE; cat $TEST_HOME/.pyxis-home-marker 2>&1"
assert_contains "$OUT" "No such file or directory" "home file with PYXIS_CONTAINER_MOUNT_HOME=0"
wait_idle
run_user env PYXIS_CONTAINER_MOUNT_HOME=0 srun "$img" --container-mount-home sh -c "$IN_IMAGE; cat $TEST_HOME/.pyxis-home-marker"
assert_eq home-marker "$OUT" "home file with --container-mount-home over PYXIS_CONTAINER_MOUNT_HOME=0"

# The same options in sbatch, for the batch step.
wait_idle
run_batch -o "$data/batch.out" "$img" --container-mounts="$data/dir:/in:ro" \
    --container-workdir=/in --wrap="$IN_IMAGE; pwd; cat file"
assert_succeeded "sbatch with --container-mounts and --container-workdir"
assert_eq $'/in\nin-dir' "$(cat "$data/batch.out")" "output of the batch step"

cleanup
assert_no_leftovers
assert_node_healthy
pass
