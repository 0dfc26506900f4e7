#!/bin/bash
# Inside the container the user is themselves: same uid, primary gid and
# supplementary groups (the image's /etc/group knows only root).
source "$(dirname "$0")/lib.sh"
require_plugin
require_images

run_user srun --container="$BUSYBOX_SQSH" sh -c "$IN_IMAGE; id -u; id -g; id -G"
assert_succeeded "srun --container id -u/-g/-G"
mapfile -t ids <<<"$OUT"
assert_eq 3 "${#ids[@]}" "number of output lines"
assert_eq "$TEST_UID" "${ids[0]}" "uid inside the container"
assert_eq "$(id -g "$TEST_USER")" "${ids[1]}" "primary gid inside the container"
extra_gid=$(getent group "$TEST_EXTRA_GROUP" | cut -d: -f3)
assert_contains " ${ids[2]} " " $extra_gid " "supplementary gids inside the container"
assert_contains " ${ids[2]} " " $(id -g "$TEST_USER") " "gids inside the container"

assert_no_leftovers
assert_node_healthy
pass
