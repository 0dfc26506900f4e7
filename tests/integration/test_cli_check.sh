#!/bin/bash
# cocoon check on the test node: healthy, it passes (exit 0); /dev/fuse at 0600, a
# cocoon.yaml a user can write, a missing squashfuse, an unknown key and a plugstack
# without the plugin are each reported with their fix (exit 1). --image as the test user
# reports each stage, and a bad image at the stage that fails. Nothing is left behind.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_cli

work=$COCOON_TEST_DIR/check-etc
fuse_mode=$(stat -c %a /dev/fuse 2>/dev/null)
cleanup() {
    # /dev/fuse is shared by every test on this machine: put its mode back first.
    [[ -n "$fuse_mode" ]] && chmod "$fuse_mode" /dev/fuse
    rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$work"
install -d -m 0755 "$work"
# Where cache_dir lets users create their caches (registry.sh's tests create it too).
install -d -m 1777 "$COCOON_TEST_DIR/cache"

# check [ARGS...]: cocoon check as root with the cluster's SLURM_CONF; OUT, ERR, RC.
check() {
    local out err
    out=$(mktemp) err=$(mktemp)
    timeout "$COCOON_TIMEOUT" "$COCOON" check "$@" >"$out" 2>"$err"
    RC=$?
    OUT=$(cat "$out") ERR=$(cat "$err")
    rm -f "$out" "$err"
}

# assert_item STATUS ITEM TEXT: the line of ITEM has STATUS (ok, FAIL, skip) and TEXT.
assert_item() {
    local line
    line=$(grep -E "^$1 +$2: " <<<"$OUT")
    [[ -n "$line" ]] || fail "no '$1 $2:' line in cocoon check's report:
$OUT"
    assert_contains "$line" "$3" "the '$2' line"
}

# assert_fix ITEM TEXT: the fix printed under ITEM's FAIL line contains TEXT.
assert_fix() {
    local fix
    fix=$(grep -E -A1 "^FAIL +$1: " <<<"$OUT" | sed -n 's/^ *fix: //p')
    assert_contains "$fix" "$2" "the fix for '$1'"
}

# config_with SED_EXPRESSION: a copy of the cluster's cocoon.yaml, changed, root's 0644.
config_with() {
    sed "$1" "$COCOON_YAML" > "$work/cocoon.yaml"
    chmod 0644 "$work/cocoon.yaml"
    echo "$work/cocoon.yaml"
}

# --- a healthy node ---
check
[[ "$RC" == 0 ]] || fail "cocoon check on the healthy test node exited $RC:
$OUT
$ERR"
assert_not_contains "$OUT" "FAIL" "report of a healthy node"
for item in "user namespaces" /dev/fuse plugstack cocoon.yaml squashfuse tar2sqfs \
            "tar2sqfs zstd" "squashfuse zstd" cache_dir; do
    assert_item ok "$item" ""
done
assert_item ok plugstack "built for Slurm"
if grep -q '^kernel_mount: true' "$COCOON_YAML"; then
    assert_item ok kernel_mount "the kernel's squashfs and /dev/loop-control are there"
    assert_not_contains "$(grep -E '^ok +kernel_mount: ' <<<"$OUT")" "kept now" \
        "the kernel_mount line without kernel_mount_linger"
fi
assert_item ok cocoon.yaml "$COCOON_YAML"
assert_contains "$OUT" "this node is ready for cocoon" "last line"

# --- /dev/fuse 0600 ---
# Other engineers' test runs use FUSE too: change it only while this machine's cluster
# lock is held (scripts/test.sh holds it for the whole run).
if flock -n /tmp/cocoon-cluster.lock true 2>/dev/null; then
    note "/tmp/cocoon-cluster.lock is not held: leaving /dev/fuse alone"
else
    chmod 0600 /dev/fuse
    check
    chmod "$fuse_mode" /dev/fuse
    assert_eq 1 "$RC" "exit status of cocoon check with /dev/fuse 0600"
    assert_item FAIL /dev/fuse "mode 0600"
    assert_fix /dev/fuse "chmod 0666 /dev/fuse"
    assert_item skip "squashfuse zstd" "/dev/fuse"
    assert_contains "$OUT" "cocoon check: 1 problem" "last line"
fi

# --- a cocoon.yaml any user can write, and one in a directory the test user owns ---
config=$(config_with '')
chmod 0666 "$config"
check -c "$config"
assert_eq 1 "$RC" "exit status of cocoon check with a world-writable cocoon.yaml"
assert_item FAIL cocoon.yaml "must be owned by root and writable only by root"
assert_fix cocoon.yaml "chmod 0644 $config"
chmod 0644 "$config"
chown "$TEST_USER" "$work"
check -c "$config"
chown root "$work"
assert_eq 1 "$RC" "exit status of cocoon check with cocoon.yaml in the test user's directory"
assert_item FAIL cocoon.yaml "$work"
assert_fix cocoon.yaml "every directory above it"

# --- an unknown key ---
config=$(config_with '$a\bogus_key: 1')
check -c "$config"
assert_eq 1 "$RC" "exit status of cocoon check with an unknown key"
assert_item FAIL cocoon.yaml "bogus_key"

# --- no squashfuse ---
config=$(config_with 's|^squashfuse:.*|squashfuse: /nonexistent/squashfuse_ll|')
check -c "$config"
assert_eq 1 "$RC" "exit status of cocoon check without squashfuse"
assert_item FAIL squashfuse "/nonexistent/squashfuse_ll is not installed"
assert_fix squashfuse "apt install squashfuse, or set cocoon.yaml key squashfuse"
assert_item skip "squashfuse zstd" "needs squashfuse"
assert_item ok tar2sqfs ""

# --- kernel_mount with a probe image the kernel must refuse ---
# A tar2sqfs that lists zstd but writes no squashfs: the probe's file fails the plugin's
# own check (a squashfs file's magic), which is reported with its reason; nothing stays.
if grep -q '^kernel_mount: true' "$COCOON_YAML"; then
    printf '%s\n' '#!/bin/sh' '[ "$1" = --help ] && exec /usr/bin/tar2sqfs --help' \
        'for last; do :; done' 'printf "not an image" > "$last"' > "$work/tar2sqfs"
    chmod 0755 "$work/tar2sqfs"
    config=$(config_with "/^tar2sqfs:/d; \$ a tar2sqfs: $work/tar2sqfs")
    check -c "$config"
    assert_eq 1 "$RC" "exit status of cocoon check with a probe image that is no squashfs"
    assert_item FAIL kernel_mount "could not be kernel-mounted"
    assert_item FAIL kernel_mount "is not a squashfs file"
    assert_fix kernel_mount "slurmd's log gives the reason for each image"
    [[ -z "$(compgen -G '/tmp/cocoon-check.*')" ]] ||
        fail "cocoon check left $(compgen -G '/tmp/cocoon-check.*')"
fi

# --- a plugstack.conf that does not load the plugin ---
: > "$work/plugstack.conf"
sed "s|^PlugStackConfig=.*|PlugStackConfig=$work/plugstack.conf|" "$SLURM_CONF" > "$work/slurm.conf"
SLURM_CONF=$work/slurm.conf check
assert_eq 1 "$RC" "exit status of cocoon check without the plugstack line"
assert_item FAIL plugstack "$work/plugstack.conf"
assert_fix plugstack "required /PATH/TO/spank_cocoon.so"

# --- bad usage ---
check stray
assert_eq 2 "$RC" "exit status of cocoon check stray"
assert_contains "$ERR" "check: unexpected argument 'stray'" "stderr of cocoon check stray"

# --- --image, as the test user ---
run_user timeout "$COCOON_TIMEOUT" "$COCOON" check -c "$COCOON_YAML" --image "$BUSYBOX_SQSH"
assert_succeeded "cocoon check --image $BUSYBOX_SQSH"
for item in configuration "image name" image container task; do
    assert_item ok "$item" ""
done
assert_item ok task "ran 'true'"
run_user timeout "$COCOON_TIMEOUT" "$COCOON" check -c "$COCOON_YAML" --image "$IMAGES/corrupt.sqsh"
assert_eq 1 "$RC" "exit status of cocoon check --image corrupt.sqsh"
assert_item FAIL image "$IMAGES/corrupt.sqsh"
assert_not_contains "$OUT" "container:" "report after a failed image stage"

leftover=$(find /tmp -maxdepth 1 -name 'cocoon-check.*')
[[ -z "$leftover" ]] || fail "cocoon check left temporary directories: $leftover"

cleanup
assert_no_leftovers
assert_node_healthy
pass
