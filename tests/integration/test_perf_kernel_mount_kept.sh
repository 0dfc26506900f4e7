#!/bin/bash
# cocoon.yaml kernel_mount_linger: a trusted image's kernel mount stays on the node after
# the last step that used it (root's, under the runtime directory, private to slurmd's
# mount namespace), so the next job, of this user or another, gets the same superblock and
# its warm caches, also after a restart of slurmd. A user cannot reach the kept mount;
# cocoon check counts it. It goes, with its loop device and its tmpfs, once its linger has
# passed (at the next job's start or end), and when the key is taken out of cocoon.yaml.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

cache=$COCOON_TEST_DIR/kernel-cache
kept_dir=/run/cocoon/kernel-mounts
other_user=nobody
saved_config=$(mktemp)
cp -p "$COCOON_YAML" "$saved_config"
cleanup() {
    cancel_user_jobs
    cat "$saved_config" > "$COCOON_YAML"
    rm -f "$saved_config" "$TEST_WORK"/kept-job-*
    # Whatever happened: nothing of this test may stay mounted on the node.
    { findmnt -n -l -o TARGET -R "$kept_dir" 2>/dev/null || true; } | tac | xargs -r -n 1 umount -l
    rmdir "$kept_dir" 2>/dev/null || true
    delete_unique_images
    rm -rf "$cache"
}
trap cleanup EXIT
set_linger() { # SECONDS (empty: the key left out)
    sed '/^kernel_mount_linger:/d' "$saved_config" > "$COCOON_YAML"
    [[ -z "$1" ]] || echo "kernel_mount_linger: $1" >> "$COCOON_YAML"
}

pull_into_kernel_cache kept
image_file=$KERNEL_IMAGE_FILE
hex=$(basename "$image_file" .sqsh)
kept=$kept_dir/$hex
[[ ! -e "$kept_dir" ]] || fail "$kept_dir is there before the test"

# The device of the container's squashfs mount (exits 99 outside the image).
show_device="grep -qx $UNIQUE_TOKEN /etc/cocoon-token || exit 99; sed -n 's/^[0-9]* [0-9]* \\([0-9:]*\\) .* - squashfs .*/\\1/p' /proc/self/mountinfo | sort -u"
# The device of the kept mount of the image, if there is one.
kept_device() { findmnt -n -o MAJ:MIN "$kept" | tr -d ' ' || true; }
# job_device [USER]: one job in the image; sets DEV.
job_device() { job_device_of "${1:-$TEST_USER}" "$UNIQUE_REF" "$show_device"; }
# Waits (the epilog runs after srun returns) until nothing is kept and no loop device
# backs the image.
assert_released() { # WHAT
    local i
    for ((i = 0; i < 100; i++)); do
        [[ ! -e "$kept_dir" && -z "$(losetup -j "$image_file")" ]] && return
        sleep 0.1
    done
    fail "$1: still kept: $(findmnt -n -l -R "$kept_dir" 2>&1 | tr '\n' ' '); loop: $(losetup -j "$image_file")"
}

# 1. Without the key a kernel mount goes with its step (as test_perf_kernel_mount checks).
set_linger ""
job_device
assert_released "without kernel_mount_linger"

# 2. With it, the mount stays after the job: the same device, read-only, nosuid, nodev,
#    private (nothing propagates), in a root-only tmpfs.
set_linger 60
job_device
first=$DEV
wait_idle
assert_eq "$first" "$(kept_device)" "the kept mount's device (the job's)"
assert_eq squashfs "$(findmnt -n -o FSTYPE "$kept" | tr -d ' ')" "the kept mount's type"
options=$(findmnt -n -o VFS-OPTIONS "$kept")
for option in ro nosuid nodev; do
    [[ ",$options," == *",$option,"* ]] || fail "the kept mount's options lack $option: $options"
done
assert_eq private "$(findmnt -n -o PROPAGATION "$kept_dir" | tr -d ' ')" "the kept mounts' tmpfs propagation"
assert_eq "700 root" "$(stat -c '%a %U' "$kept_dir")" "the kept mounts' directory"
assert_eq 1 "$(losetup -j "$image_file" | wc -l)" "loop devices of the image after the job"
run_capture runuser -u "$TEST_USER" -- ls "$kept_dir"
assert_failed "ls $kept_dir as $TEST_USER"
# The admin's view: cocoon check counts what the node keeps.
run_capture timeout "$COCOON_TIMEOUT" "$COCOON" check
assert_contains "$(grep -E '^ok +kernel_mount: ' <<<"$OUT")" "images kept 60 s after their last job, 1 kept now" \
    "cocoon check's kernel_mount line"

# 3. The next job, and another user's: the same superblock.
job_device
assert_eq "$first" "$DEV" "the next job's image device (the kept mount's)"
if runuser -u "$other_user" -- true 2>/dev/null; then
    job_device "$other_user"
    assert_eq "$first" "$DEV" "$other_user's job's image device (the kept mount's)"
fi
assert_eq 1 "$(losetup -j "$image_file" | wc -l)" "loop devices of the image after three jobs"

# 3b. The kept mount is the node's, not slurmd's: it outlives a restart of slurmd, and the
#     next job gets it (step 4 then releases it under the new slurmd).
restart_slurmd
assert_eq "$first" "$(kept_device)" "the kept mount's device after a slurmd restart"
job_device
assert_eq "$first" "$DEV" "the next job's image device after a slurmd restart"

# 4. Once the linger has passed, the next job's start or end releases it.
set_linger 2
sleep 3
run_user srun true
assert_succeeded "srun true after the linger"
assert_released "after the linger"

# 5. Four jobs submitted at once with nothing kept (the node runs two at a time): all
#    run, and the node keeps one mount of the image (keeping is serialized: none stacks a
#    second mount on another's).
set_linger 60
wait_idle
pids=()
for i in 1 2 3 4; do
    as_user srun --container-readonly --container="$UNIQUE_REF" sh -c "$show_device" \
        > "$TEST_WORK/kept-job-$i" 2> "$TEST_WORK/kept-job-$i.err" &
    pids+=($!)
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || fail "concurrent job $((i + 1)) failed: $(cat "$TEST_WORK/kept-job-$((i + 1)).err")"
done
wait_idle
assert_eq 1 "$(findmnt -n -l -o TARGET -R "$kept_dir" | grep -c "/$hex\$" || true)" \
    "mounts kept of the image after four concurrent jobs"
# (Jobs that start at the same instant may each bind a loop device before either sees the
# other's: the kept mount is then one of theirs.)
devices=$(cat "$TEST_WORK"/kept-job-{1,2,3,4})
grep -qxF "$(kept_device)" <<<"$devices" ||
    fail "the kept mount's device $(kept_device) is none of the four jobs': $devices"

# 6. Kept, then the key taken out: the next job releases it.
set_linger ""
run_user srun true
assert_succeeded "srun true with the key out"
assert_released "with kernel_mount_linger out of cocoon.yaml"

assert_no_leftovers
assert_node_healthy
pass
