#!/bin/bash
# The libfabric module brings the host's libfabric into an image that has none: with it,
# `fi_info -l` inside the busybox image lists the host's providers, the library is in
# /.cocoon/lib where the loader looks first, and FI_PROVIDER of the job passes through.
# Without it, nothing of libfabric is inside.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
command -v fi_info >/dev/null || fail "fi_info missing on the node (scripts/install-deps.sh installs libfabric-bin)"

host_providers=$(fi_info -l | sed -n 's/:$//p' | sort)
[[ -n "$host_providers" ]] || fail "fi_info -l lists no provider on the host"

wait_idle
run_user srun -N1 --container="$BUSYBOX_SQSH" --container-modules=libfabric \
    sh -c "$IN_IMAGE; fi_info -l | sed -n 's/:\$//p' | sort"
assert_succeeded "fi_info -l with the libfabric module"
assert_eq "$host_providers" "$OUT" "providers inside (the host's)"

run_user srun -N1 --container="$BUSYBOX_SQSH" --container-modules=libfabric \
    sh -c "$IN_IMAGE; ls /.cocoon/lib/; echo \"path=\$LD_LIBRARY_PATH\""
assert_succeeded "listing /.cocoon/lib"
assert_contains "$OUT" "libfabric.so.1" "/.cocoon/lib"
assert_contains "$OUT" "path=/.cocoon/lib" "LD_LIBRARY_PATH"

run_user env FI_PROVIDER=tcp srun -N1 --container="$BUSYBOX_SQSH" --container-modules=libfabric \
    sh -c "$IN_IMAGE; echo \"provider=\$FI_PROVIDER\""
assert_succeeded "fi_info -l with FI_PROVIDER=tcp"
assert_contains "$OUT" "provider=tcp" "FI_PROVIDER inside"

run_user srun -N1 --container="$BUSYBOX_SQSH" \
    sh -c "$IN_IMAGE; command -v fi_info || echo none; ls /.cocoon/lib 2>/dev/null || echo nolib"
assert_succeeded "srun without the module"
assert_contains "$OUT" "none" "fi_info without the module"
assert_contains "$OUT" "nolib" "/.cocoon/lib without the module"

assert_no_leftovers
assert_node_healthy
pass
