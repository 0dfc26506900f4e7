#!/bin/bash
# Locale variables are one setting. An image without LANG/LC_* gets the job's (as under
# pyxis); an image whose Env sets one of them gets its own locale whole: the job's other
# locale variables (a host LC_ALL that would override the image's LANG with a locale the
# image may lack) are left out, unless --container-env keeps them.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_oci_fixtures

work=$TEST_WORK/pyxis-locale
cache=$TEST_WORK/cache-pyxis-locale
cleanup() {
    rm -rf "$work" "$cache"
}
trap cleanup EXIT
cleanup
install -d -o "$TEST_USER" "$work"
layout_with_config "$work/c-utf8" '
config = json.loads(text)
config.setdefault("config", {}).setdefault("Env", []).append("LANG=C.UTF-8")
text = json.dumps(config)'

show='echo "LANG=${LANG-unset} LC_ALL=${LC_ALL-unset} LC_TIME=${LC_TIME-unset}"'
host=(env LANG=de_DE.UTF-8 LC_ALL=de_DE.UTF-8 LC_TIME=fr_FR.UTF-8 COCOON_CACHE_DIR="$cache")

run_user "${host[@]}" srun "--container-image=$BUSYBOX_SQSH" sh -c "$IN_IMAGE; $show"
assert_succeeded "srun with an image without locale variables"
assert_eq "LANG=de_DE.UTF-8 LC_ALL=de_DE.UTF-8 LC_TIME=fr_FR.UTF-8" "$OUT" "the job's locale"

wait_idle
run_user "${host[@]}" srun "--container-image=oci:$work/c-utf8:latest" sh -c "$show"
assert_succeeded "srun with an image whose Env sets LANG"
assert_eq "LANG=C.UTF-8 LC_ALL=unset LC_TIME=unset" "$OUT" "the image's locale"

wait_idle
run_user "${host[@]}" srun --container-env=LC_TIME,LANG "--container-image=oci:$work/c-utf8:latest" sh -c "$show"
assert_succeeded "srun with --container-env=LC_TIME,LANG"
assert_eq "LANG=de_DE.UTF-8 LC_ALL=unset LC_TIME=fr_FR.UTF-8" "$OUT" "locale variables kept with --container-env"

cleanup
trap - EXIT
assert_no_leftovers
assert_node_healthy
pass
