#!/bin/bash
# cocoon.yaml warm_mount_linger: the steps of one job that use the same squashfs image
# (with the same id maps) share one image mount, held by the job's image holder; another
# image file, or another map mode, gets its own; writable steps on one mount run their tasks in
# the inner user namespace the image holder made once, and a writable step's root is an
# overlay an earlier step left as its setup made it, never one a step wrote to. With no step using it for the linger
# time, the image holder ends; killed, the next step gets a fresh mount and works. After
# the job nothing is left: no image holder, no squashfuse, no record, no mount.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

linger=5
saved_config=$(mktemp)
cp -p "$COCOON_YAML" "$saved_config"
script=$TEST_WORK/warm-job.sh
out_file=$TEST_WORK/warm-job.out
other=$TEST_WORK/warm-other.sqsh
cleanup() {
    cancel_user_jobs
    cat "$saved_config" > "$COCOON_YAML"
    rm -f "$saved_config" "$script" "$out_file" "$other"
}
trap cleanup EXIT
sed -i '/^warm_mount_linger:/d' "$COCOON_YAML"
echo "warm_mount_linger: $linger" >> "$COCOON_YAML"

# The same image in another file: never shares the first one's mount.
cp "$BUSYBOX_SQSH" "$other"
chown "$TEST_USER" "$other"

cat > "$script" <<EOF
#!/bin/sh
img='$BUSYBOX_SQSH'
other='$other'
linger=$linger
in_image='$IN_IMAGE'
EOF
cat >> "$script" <<'EOF'
# The device of the image's FUSE mount as a read-only container sees it (major:minor, one
# per FUSE connection): equal in two steps only when they share one mount.
dev() {
    srun --container-readonly --container="$1" sh -c "$in_image; sed -n 's/^[0-9]* [0-9]* \([0-9:]*\) .* - fuse.squashfuse .*/\1/p' /proc/self/mountinfo | sort -u" 2>&1 | tr '\n' ' '
}
holders() { pgrep -u "$(id -u)" -f -- '--image-holder' | wc -l; }
holder_pids() { pgrep -u "$(id -u)" -f -- '--image-holder' | sort -n | tr '\n' ' '; }
echo "first $(dev "$img")"
echo "second $(dev "$img")"
echo "holders $(holders)"
echo "other $(dev "$other")"
echo "writable $(srun --container="$img" sh -c "$in_image; touch /new && echo ok" 2>&1)"
# The user's uid and the user namespace the tasks run in (a writable container's inner
# one), in two more writable steps at the same time (the kernel numbers a namespace anew
# only once the last one is gone): the image holder made that namespace once for both.
inner() { srun --overlap --container="$img" sh -c "$in_image; echo \$(id -u) \$(readlink /proc/self/ns/user); sleep 2" 2>&1; }
inner_file=$(mktemp)
inner > "$inner_file" &
echo "inner-b $(inner)"
wait
echo "inner-a $(cat "$inner_file")"
rm -f "$inner_file"
echo "holders-three $(holders)"
# --container-remap-root maps the user to uid 0 as a writable root does, but its tasks
# stay there: the image holder's inner namespace is not for them.
echo "remap $(srun --container-remap-root --container="$img" sh -c "$in_image; id -u" 2>&1)"
# A writable step's root on a warm mount: which of the image holder's overlays it is (the
# upper directory in its mount options; a step's own says /tmp/upper/upper), and whether
# a file an earlier step wrote is there. A step that left its overlay as its setup made it
# hands it to the next step; one that wrote to it does not.
root() { srun --container="$img" sh -c "$in_image; sed -n 's/^[0-9]* [0-9]* [0-9:]* \/ \/ .* - overlay .*upperdir=\([^,]*\).*/\1/p' /proc/self/mountinfo; for f in /new /written; do test ! -e \$f || echo \$f; done; ${1:-true}" 2>&1 | tr '\n' ' '; }
# srun may return a moment before the step's holder has ended and given its root back:
# each step waits a second for the one before.
echo "root-a $(root)"
sleep 1
echo "root-b $(root)"
sleep 1
echo "root-written $(root 'touch /written')"
sleep 1
echo "root-after-write $(root)"
echo "killed $(holder_pids)"
pkill -KILL -u "$(id -u)" -f -- '--image-holder'
sleep 1
echo "after-kill $(dev "$img")"
echo "holder-after-kill $(holder_pids)"
echo "after-kill-again $(dev "$img")"
sleep $((linger + 3))
echo "holders-after-linger $(holders)"
echo "after-linger $(dev "$img")"
echo "holders-end $(holders)"
EOF
run_batch_script "$script" "$out_file"
job=$JOB job_out=$JOB_OUT
value() { grep -a "^$1 " <<<"$job_out" | sed "s/^$1 //; s/ *\$//"; }
device='^[0-9]+:[0-9]+$'

first=$(value first)
[[ "$first" =~ $device ]] || fail "first step: no FUSE mount of the image; output:
$job_out"
assert_eq "$first" "$(value second)" "the second step's image mount (shared with the first)"
assert_eq 1 "$(value holders)" "image holders after two steps with one image"
[[ "$(value other)" =~ $device ]] || fail "step with another image file failed: $job_out"
[[ "$(value other)" != "$first" ]] || fail "another image file shared the first one's mount"
assert_eq ok "$(value writable)" "a writable step (another map mode) with warm mounts"
inner_a=$(value inner-a)
[[ "$inner_a" =~ ^$TEST_UID\ user:\[[0-9]+\]$ ]] ||
    fail "a writable step on a warm mount: expected the user's uid ($TEST_UID) and a user namespace, got '$inner_a'"
assert_eq "$inner_a" "$(value inner-b)" \
    "two writable steps on one warm mount: the same inner user namespace (the image holder's)"
assert_eq 3 "$(value holders-three)" "image holders: one per image file and map mode"
assert_eq 0 "$(value remap)" "uid in a --container-remap-root step with warm mounts"
root_a=$(value root-a)
[[ "$root_a" =~ ^/tmp/layers-[0-9]+/upper$ ]] ||
    fail "a writable step on a warm mount: expected a root the image holder keeps, with nothing an earlier step wrote; got '$root_a'"
assert_eq "$root_a" "$(value root-b)" "the root of the next writable step (the same overlay, unchanged)"
assert_eq "$root_a" "$(value root-written)" "the root of the step that writes to it"
root_after=$(value root-after-write)
[[ "$root_after" =~ ^/tmp/layers-[0-9]+/upper$ ]] ||
    fail "the step after one that wrote to its root: expected a clean root the image holder keeps; got '$root_after'"
[[ "$root_after" != "$root_a" ]] || fail "a root a step wrote to was given to the next step"

# Killed: the next step starts a new image holder (a fresh mount) and works; the one after
# it shares that one. (A device number is compared only between mounts that exist at the
# same time: the kernel gives a freed one to the next FUSE mount.)
after_kill=$(value after-kill)
[[ "$after_kill" =~ $device ]] || fail "step after the image holder was killed failed: $job_out"
new_holder=$(value holder-after-kill)
[[ "$new_holder" =~ ^[0-9]+$ ]] || fail "not one image holder after the kill: '$new_holder'"
[[ " $(value killed) " != *" $new_holder "* ]] ||
    fail "the step after the kill used a killed image holder ($new_holder)"
assert_eq "$after_kill" "$(value after-kill-again)" "the step after the new image holder"

# Gone after the linger time with no step; a later step mounts afresh and works.
assert_eq 0 "$(value holders-after-linger)" "image holders after $linger s without a step"
after_linger=$(value after-linger)
[[ "$after_linger" =~ $device ]] || fail "step after the linger time failed: $job_out"
assert_eq 1 "$(value holders-end)" "image holders at the end of the job"

# The job's end ends the image holders: no record, process or mount left.
left=$(compgen -G "/run/cocoon/job-$job" || true)
[[ -z "$left" ]] || fail "records of job $job left behind: $left"
cleanup
trap - EXIT
assert_no_leftovers
assert_node_healthy
pass
