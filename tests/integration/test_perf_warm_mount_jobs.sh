#!/bin/bash
# cocoon.yaml warm_mount_across_jobs: with warm_mount_linger, the jobs of one user on a node
# share an image mount, which outlives the job that made it by the linger time. Another
# user's job never gets it: it has an image holder of its own. Killed, the next job starts
# a new one and works; another cocoon.yaml gets another one. After the linger time no
# image holder is left, and the next job's epilog removes the records (and what a killed
# writer left); nothing else is left behind.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

linger=6
other_user=nobody
saved_config=$(mktemp)
cp -p "$COCOON_YAML" "$saved_config"
image_holders() { pgrep -u "$1" -f -- '--image-holder' | sort -n | tr '\n' ' ' | sed 's/ $//'; }
cleanup() {
    cancel_user_jobs
    pkill -KILL -u "$TEST_USER" -f -- '--image-holder' || true
    pkill -KILL -u "$other_user" -f -- '--image-holder' || true
    cat "$saved_config" > "$COCOON_YAML"
    rm -f "$saved_config"
}
trap cleanup EXIT
sed -i '/^warm_mount_linger:/d; /^warm_mount_across_jobs:/d' "$COCOON_YAML"
printf 'warm_mount_linger: %s\nwarm_mount_across_jobs: true\n' "$linger" >> "$COCOON_YAML"

# The device of the image's FUSE mount as a read-only container sees it (one per FUSE
# connection). Compared only between mounts that exist at the same time: the kernel gives
# a freed device number to the next FUSE mount.
show_device="$IN_IMAGE; sed -n 's/^[0-9]* [0-9]* \\([0-9:]*\\) .* - fuse.squashfuse .*/\\1/p' /proc/self/mountinfo | sort -u"
# job_device [USER]: one job in the read-only test image; sets DEV.
job_device() { job_device_of "${1:-$TEST_USER}" "$BUSYBOX_SQSH" "$show_device"; }

# Two jobs of the user, one after the other: the second uses the first one's mount.
job_device
first=$DEV
holder=$(image_holders "$TEST_USER")
[[ "$holder" =~ ^[0-9]+$ ]] || fail "not one image holder after the first job: '$holder'"
records=$(ls /run/cocoon/user-"$TEST_UID")
[[ "$records" == +warm-* ]] || fail "no record of the user's image holder: '$records'"
job_device
assert_eq "$first" "$DEV" "the second job's image mount (the first job's)"
assert_eq "$holder" "$(image_holders "$TEST_USER")" "the user's image holder after the second job"

# Another user's job, while the user's image holder still runs: its own image holder and
# mount, recorded under its own uid.
other_uid=$(id -u "$other_user")
runuser -u "$other_user" -- test -r "$BUSYBOX_SQSH" ||
    fail "$BUSYBOX_SQSH is not readable by $other_user (the test images must be readable by all)"
job_device "$other_user"
[[ "$DEV" != "$first" ]] || fail "$other_user's job got $TEST_USER's image mount ($DEV)"
other_holder=$(image_holders "$other_user")
[[ "$other_holder" =~ ^[0-9]+$ ]] || fail "not one image holder of $other_user: '$other_holder'"
assert_eq "$holder" "$(image_holders "$TEST_USER")" "$TEST_USER's image holder after $other_user's job"
[[ -n "$(ls /run/cocoon/user-"$other_uid")" ]] || fail "no record of $other_user's image holder"

# Killed: the next job starts a new image holder and works.
kill -KILL "$holder"
job_device
after_kill=$(image_holders "$TEST_USER")
[[ "$after_kill" =~ ^[0-9]+$ && "$after_kill" != "$holder" ]] ||
    fail "image holders after the kill: '$after_kill' (killed: $holder)"

# Another configuration (any key: the image holder was started with the old one) starts
# another image holder; the one of the old configuration lingers out.
echo "writable_size: 2G" >> "$COCOON_YAML"
job_device
changed=$(image_holders "$TEST_USER")
[[ "$changed" =~ ^[0-9]+\ [0-9]+$ && " $changed " == *" $after_kill "* ]] ||
    fail "image holders after a change of cocoon.yaml: '$changed' (before: $after_kill)"

# Gone after the linger time without a job; the next job's epilog (a job without a
# container) removes their records and directories.
sleep $((linger + 3))
assert_eq "" "$(image_holders "$TEST_USER")" "$TEST_USER's image holders after $linger s"
assert_eq "" "$(image_holders "$other_user")" "$other_user's image holders after $linger s"
# What a record's writer leaves when killed between writing and renaming goes too.
[[ -d /run/cocoon/user-$TEST_UID ]] || fail "the records of the user's ended image holders went before any job"
: > "/run/cocoon/user-$TEST_UID/.+warm-unfinished"
wait_idle
run_user srun true
assert_succeeded "a job without a container"
wait_idle
left=$(compgen -G "/run/cocoon/user-*" || true)
[[ -z "$left" ]] || fail "records of ended image holders left behind: $left"

cleanup
trap - EXIT
assert_no_leftovers
assert_node_healthy
pass
