#!/bin/bash
# Image data is read only by the holder program, never by slurmstepd: the holder is an
# executed program (not a fork of slurmstepd) running as the job user with a clean
# environment, no_new_privs and not dumpable. An image whose configuration JSON is nested
# 60,000 levels deep (which overflowed slurmstepd's stack when it was parsed there) is
# refused by the holder with a one-line error; the node and the next step are fine. With
# fs.suid_dumpable=1 (where a process that switched to the user could be traced by them)
# the holder's child is forked, not spawned in slurmstepd's memory: steps still start.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_oci_fixtures

deep=$TEST_WORK/deep-config
cache=$TEST_WORK/cache-holder
suid_dumpable=$(cat /proc/sys/fs/suid_dumpable)
cleanup() {
    echo "$suid_dumpable" > /proc/sys/fs/suid_dumpable
    cancel_user_jobs
    rm -rf "$deep" "$cache"
}
trap cleanup EXIT
rm -rf "$deep" "$cache"

# --- the holder process -----------------------------------------------------------------
as_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; exec sleep 60" >/dev/null 2>&1 &
wait_user_process 30 -x sleep >/dev/null || fail "the containerized sleep did not start"
holder=""
for pid in $(pgrep -u "$TEST_USER"); do
    [[ "$(readlink "/proc/$pid/exe")" == */libexec/cocoon/cocoon-holder ]] && holder=$pid
done
[[ -n "$holder" ]] || fail "no cocoon-holder process of $TEST_USER; processes:
$(ps -o pid,cmd -u "$TEST_USER")"
assert_eq "$TEST_UID" "$(awk '/^Uid:/ { print $2 }' "/proc/$holder/status")" "uid of the holder"
assert_eq 1 "$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$holder/status")" "NoNewPrivs of the holder"
# The /proc entries of an undumpable process belong to root.
assert_eq 0 "$(stat -c %u "/proc/$holder/environ")" "owner of /proc/HOLDER/environ (undumpable)"
environment=$(tr '\0' '\n' < "/proc/$holder/environ" | grep -v -i '_proxy=' || true)
assert_eq "" "$environment" "environment of the holder (only proxy variables may pass)"
cancel_user_jobs

# --- a configuration nested 60,000 levels ---------------------------------------------
layout_with_config "$deep" '
depth = 60000
text = text[:-1] + ", \"x-deep\": " + "[" * depth + "]" * depth + "}"'

wait_idle
run_user env COCOON_CACHE_DIR="$cache" timeout 60 srun "--container=oci:$deep:latest" true
assert_failed "srun --container=oci:$deep:latest (configuration nested 60,000 levels)"
[[ "$RC" != 124 ]] || fail "srun with the deep configuration hung"
assert_contains "$ERR" "cocoon: error: --container=oci:$deep:latest: " "error of the deep configuration"
assert_contains "$ERR" "nests arrays and objects deeper than" "error of the deep configuration"
assert_eq 1 "$(grep -c '^cocoon: error:' <<<"$ERR")" "number of cocoon error lines (one task)"
assert_node_healthy

# The node and the next step are unharmed.
wait_idle
run_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; echo next"
assert_succeeded "the step after the deep configuration"
assert_eq next "$OUT" "output of the next step"

# --- fs.suid_dumpable=1: the child is forked ---------------------------------------------
echo 1 > /proc/sys/fs/suid_dumpable
wait_idle
run_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; id -u"
echo "$suid_dumpable" > /proc/sys/fs/suid_dumpable
assert_succeeded "a step with fs.suid_dumpable=1"
assert_eq "$TEST_UID" "$OUT" "the user inside, with fs.suid_dumpable=1"

cleanup
assert_no_leftovers
assert_node_healthy
pass
