#!/bin/bash
# --container-save=PATH writes the container (image and the step's changes) to a squashfs
# file, before srun returns; a later step runs in it with --container-image=PATH. A path
# that cannot be written says why, and leaves no file behind.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_cli

img=--container-image=$BUSYBOX_SQSH
saved=$TEST_WORK/saved.sqsh
rm -f "$saved"

# Relative to the working directory; the next step starts right after srun returns.
run_user srun "$img" --container-save=saved.sqsh sh -c "$IN_IMAGE; echo kept > /etc/saved-marker; mkdir -p /opt/new"
assert_succeeded "srun --container-save=saved.sqsh"
[[ -f $saved ]] || fail "no $saved after srun returned: $ERR"
assert_eq "$TEST_USER" "$(stat -c %U "$saved")" "owner of the saved file"
run_user srun --container-image="$saved" sh -c "$IN_IMAGE; cat /etc/saved-marker; stat -c %u /etc/saved-marker /bin/busybox; ls -d /opt/new; ls /proc/self/ >/dev/null && echo proc-ok"
assert_succeeded "srun --container-image=$saved"
assert_eq $'kept\n'"$TEST_UID"$'\n'"$TEST_UID"$'\n/opt/new\nproc-ok' "$OUT" "the saved container, as the user sees it"

# An existing file is replaced (as pyxis does), by the environment variable.
run_user env PYXIS_CONTAINER_SAVE="$saved" srun --container-image="$saved" sh -c "echo second > /etc/saved-marker"
assert_succeeded "PYXIS_CONTAINER_SAVE over an existing file"
run_user srun --container-image="$saved" cat /etc/saved-marker
assert_eq second "$OUT" "the replaced file"

# A save killed on the way (time limit, scancel) leaves its temporary next to PATH; the
# next save to PATH removes it. One whose saver still holds its lock (a save at work) stays.
dead=$TEST_WORK/.saved.sqsh.Dead01 busy=$TEST_WORK/.saved.sqsh.Busy01
runuser -u "$TEST_USER" -- sh -c "echo partial > '$dead' && echo partial > '$busy'"
touch -d '-1 minute' "$dead" "$busy"
setsid runuser -u "$TEST_USER" -- flock "$busy" sleep 60 &
holder=$! # its own process group: flock and sleep go with it
for ((i = 0; i < 50; i++)); do
    grep -q ":$(stat -c %i "$busy") " /proc/locks && break
    sleep 0.1
done
run_user srun "$img" --container-save=saved.sqsh true
kill -KILL -- "-$holder" 2>/dev/null
wait "$holder" 2>/dev/null
assert_succeeded "srun --container-save=saved.sqsh beside a killed save's temporary"
[[ ! -e $dead ]] || fail "the temporary of a killed save is still next to $saved"
[[ -e $busy ]] || fail "the temporary of a save at work was removed"
rm -f "$busy"

# A named container: its changes of earlier steps are saved too.
run_user sbatch -N1 --wait -o "$TEST_WORK/named.out" --wrap "
srun --container-name=dev $img sh -c 'echo from-named > /etc/named-marker'
srun --container-name=dev --container-save=$TEST_WORK/named.sqsh true"
assert_succeeded "sbatch with a named container"
run_user srun --container-image="$TEST_WORK/named.sqsh" cat /etc/named-marker
assert_eq from-named "$OUT" "the saved named container"

# Bad paths: a missing directory, a directory the user cannot write. The tasks' exit codes
# are known before the save: the step keeps its exit code, and one line says why the save
# failed.
for bad in "$TEST_WORK/missing/x.sqsh" "/x.sqsh"; do
    run_user srun "$img" --container-save="$bad" true
    why="No such file or directory"
    [[ $bad == /x.sqsh ]] && why="Permission denied"
    assert_contains "$ERR" "error: cocoon: --container-save=$bad: cannot create a file in $(dirname "$bad"): $why; give a path in a directory you can write; the container was not saved" \
        "srun --container-save=$bad"
    # One line from cocoon, and no other error; srun's own notices on a busy node ("job
    # queued", "step creation temporarily disabled") do not count.
    assert_eq 1 "$(grep -c -i -e cocoon -e error <<<"$ERR")" \
        "cocoon's and error lines on stderr for --container-save=$bad (stderr: $ERR)"
    [[ -z $(find "$(dirname "$bad")" -maxdepth 1 -name '.x.sqsh.*' 2>/dev/null) ]] || fail "temporary file left for $bad"
    [[ ! -e $bad ]] || fail "$bad was written"
done
run_user srun "$img" --container-save= true
assert_failed "an empty --container-save"
assert_contains "$ERR" "--container-save=: the path is empty" "an empty --container-save"

# cocoon run has no save yet: refused, with what to do, before anything starts.
run_cocoon run --container-save=x.sqsh "$BUSYBOX_SQSH" true
assert_failed "cocoon run --container-save"
assert_contains "$ERR" "--container-save=x.sqsh: 'cocoon run' does not save its container yet (srun, sbatch and salloc do); leave it out" \
    "cocoon run --container-save"
[[ ! -e $TEST_WORK/x.sqsh ]] || fail "cocoon run --container-save wrote a file"

rm -f "$saved" "$TEST_WORK/named.sqsh" "$TEST_WORK/named.out"
assert_no_leftovers
assert_node_healthy
pass
