#!/bin/bash
# Catalogue FT (faults; docs/security.md):
#   FT-16  scancel -s USR1 reaches the task's handler; the container survives the signal
#          (the task still reads the image afterwards)
#   FT-23  the squashfs file is replaced (rename) while a task uses it: the running task
#          keeps the old image, the next step sees the new one
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/catalogue_lib.sh"
require_plugin
require_images

work=$TEST_WORK/catalogue-faults
cleanup() {
    cancel_user_jobs
    rm -rf "$work"
    catalogue_cleanup
}
trap cleanup EXIT
rm -rf "$work"
install -d -o "$TEST_USER" -m 0755 "$work"

# wait_for_file FILE SECONDS: until FILE exists and is not empty.
wait_for_file() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        [[ -s "$1" ]] && return 0
        sleep 0.1
    done
    return 1
}

# --- FT-16 ------------------------------------------------------------------------------------------
wait_idle
as_user timeout 90 srun --container="$BUSYBOX_SQSH" sh -c \
    "$IN_IMAGE; trap 'grep ^ID= /etc/os-release > $work/ft16.caught; exit 3' USR1;
     echo ready > $work/ft16.ready; while :; do sleep 0.2; done" \
    > "$work/ft16.out" 2> "$work/ft16.err" &
srun_pid=$!
wait_for_file "$work/ft16.ready" 30 || fail "the FT-16 step did not start: $(cat "$work/ft16.err")"
job=$(squeue -h -u "$TEST_USER" -o %i | head -n1)
[[ -n "$job" ]] || fail "no job of $TEST_USER for the FT-16 step"
scancel -s USR1 "$job" || fail "scancel -s USR1 $job failed"
wait "$srun_pid"
rc=$?
[[ "$rc" != 124 ]] || fail "the step did not end after its USR1 handler"
wait_for_file "$work/ft16.caught" 5 || fail "the task's USR1 handler did not run: $(cat "$work/ft16.err")"
assert_eq "ID=cocoon-busybox" "$(cat "$work/ft16.caught")" "the image as seen by the USR1 handler"
assert_eq 3 "$rc" "exit status of the step (the handler's)"
assert_no_leftovers

# --- FT-23 ------------------------------------------------------------------------------------------
dir=$(variant_dir replaced)
sed -i 's/^ID=cocoon-busybox$/ID=cocoon-busybox\nVARIANT_ID=replacement/' "$dir/etc/os-release"
replacement=$(variant_sqsh replaced)
image=$work/image.sqsh
install -o "$TEST_USER" -m 0644 "$BUSYBOX_SQSH" "$image"
wait_idle
as_user timeout 90 srun --container="$image" sh -c \
    "$IN_IMAGE; echo ready > $work/ft23.ready; sleep 3; grep -c VARIANT_ID /etc/os-release" \
    > "$work/ft23.out" 2> "$work/ft23.err" &
srun_pid=$!
wait_for_file "$work/ft23.ready" 30 || fail "the FT-23 step did not start: $(cat "$work/ft23.err")"
install -o "$TEST_USER" -m 0644 "$replacement" "$work/image.sqsh.new"
mv -f "$work/image.sqsh.new" "$image"
wait "$srun_pid"
# grep -c prints 0 (and exits 1) when the old image is still in use.
assert_eq 0 "$(cat "$work/ft23.out")" "VARIANT_ID lines seen by the running task (old image)"
wait_idle
run_user srun --container="$image" sh -c "$IN_IMAGE; grep VARIANT_ID /etc/os-release"
assert_succeeded "a step after the image was replaced"
assert_eq VARIANT_ID=replacement "$OUT" "os-release of the replaced image"

cleanup
assert_no_leftovers
assert_node_healthy
pass
