#!/bin/bash
# An image's WorkingDir is resolved inside the container and magic links are refused
# (catalogue BI-21): a WorkingDir of /proc/PID/cwd, naming a directory of the user's on
# the host, does not take the task there; it starts in / instead.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_oci_fixtures

work=$TEST_WORK/image-workdir
cache=$TEST_WORK/cache-image-workdir
cleanup() {
    [[ -n "${host_pid:-}" ]] && kill "$host_pid" 2>/dev/null
    rm -rf "$work" "$cache"
}
trap cleanup EXIT
rm -rf "$work" "$cache"
install -d -o "$TEST_USER" -m 0755 "$work" "$work/outside"
touch "$work/outside/host-marker"

# A process of the user on the host, sitting in a directory outside any container.
(cd "$work/outside" && exec runuser -u "$TEST_USER" -- sleep 120) &
host_pid=""
for ((i = 0; i < 50; i++)); do
    host_pid=$(pgrep -u "$TEST_USER" -x sleep | head -n1)
    [[ -n "$host_pid" ]] && break
    sleep 0.1
done
[[ -n "$host_pid" ]] || fail "the host sleep did not start"

layout_with_workdir "$work/layout" "/proc/$host_pid/cwd"

# The step's directory (/usr/share/doc on the host) does not exist in the image, so the
# image's WorkingDir is where the task would start.
[[ -d /usr/share/doc ]] || fail "/usr/share/doc missing on the host"
wait_idle
run_user env COCOON_CACHE_DIR="$cache" timeout 60 \
    srun --chdir=/usr/share/doc "--container=oci:$work/layout:latest" sh -c "grep -q cocoon-registry-busybox /etc/os-release || exit 99; pwd -P; ls"
assert_succeeded "srun with WorkingDir /proc/$host_pid/cwd"
assert_not_contains "$OUT" host-marker "what the task sees in its working directory"
assert_eq / "$(head -n1 <<<"$OUT")" "the task's working directory"

cleanup
host_pid=""
assert_no_leftovers
assert_node_healthy
pass
