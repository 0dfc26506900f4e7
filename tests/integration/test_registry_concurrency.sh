#!/bin/bash
# Many importers of one new image at the same moment: 4 steps of 2 tasks each inside one
# allocation plus 2 `cocoon pull`. All succeed, all see the image, and every blob of the
# image is fetched from the registry exactly once.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry
require_cli

work=$TEST_WORK/registry-concurrency
go=$work/go
cleanup() {
    [[ -n "$(squeue -h -u "$TEST_USER" -o %i 2>/dev/null)" ]] && cancel_user_jobs
    [[ -n "${UNIQUE_REF:-}" ]] && run_cocoon rmi "$UNIQUE_REF"
    delete_unique_images
    rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$work"
install -d -o "$TEST_USER" -m 0755 "$work"

# A new image (new tag, new blobs), big enough that the importers overlap.
make_unique_image concurrent 16
note "image $UNIQUE_REF ($UNIQUE_DIGEST)"

# The batch script itself runs without a container; its 4 steps start together once $go
# exists, as do the 2 pulls.
cat > "$work/job.sh" <<JOB
#!/bin/sh
while [ ! -e "$go" ]; do sleep 0.05; done
pids=""
for i in 1 2 3 4; do
    srun --overlap -n2 --container="$UNIQUE_REF" cat /etc/os-release /etc/cocoon-token \\
        > "$work/step\$i.out" 2> "$work/step\$i.err" &
    pids="\$pids \$!"
done
rc=0
for p in \$pids; do wait \$p || rc=1; done
exit \$rc
JOB
chown "$TEST_USER" "$work/job.sh"
chmod 0755 "$work/job.sh"

mark=$(log_mark "$REGISTRY_OPEN_LOG")
as_user timeout 100 sbatch --wait -n2 -o "$work/batch.out" "$work/job.sh" \
    > "$work/sbatch.out" 2>&1 &
sbatch_pid=$!
pull_pids=()
for i in 1 2; do
    as_user timeout 100 sh -c 'while [ ! -e "$1" ]; do sleep 0.05; done; shift; exec "$@"' \
        sh "$go" "$COCOON" pull -c "$COCOON_YAML" "$UNIQUE_REF" \
        > "$work/pull$i.out" 2> "$work/pull$i.err" &
    pull_pids+=($!)
done

# Go when the allocation runs.
for ((i = 0; i < 300; i++)); do
    [[ -n "$(squeue -h -u "$TEST_USER" -t RUNNING -o %i 2>/dev/null)" ]] && break
    kill -0 "$sbatch_pid" 2>/dev/null || break
    sleep 0.1
done
[[ -n "$(squeue -h -u "$TEST_USER" -t RUNNING -o %i 2>/dev/null)" ]] ||
    fail "the batch job did not start: $(cat "$work/sbatch.out")"
as_user touch "$go"
start=$SECONDS

wait "$sbatch_pid"
sbatch_rc=$?
pull_rcs=()
for pid in "${pull_pids[@]}"; do
    wait "$pid"
    pull_rcs+=($?)
done
note "all importers done after $((SECONDS - start)) s"

show() {
    local f
    for f in "$work"/*.out "$work"/*.err; do
        [[ -s "$f" ]] && printf -- '--- %s\n%s\n' "${f##*/}" "$(cat "$f")"
    done
}
[[ "$sbatch_rc" == 0 ]] || fail "the batch job with 4 container steps failed (rc $sbatch_rc):
$(show)"
for i in 1 2; do
    [[ "${pull_rcs[i - 1]}" == 0 ]] || fail "cocoon pull $i failed (rc ${pull_rcs[i - 1]}):
$(show)"
    assert_contains "$(cat "$work/pull$i.out")" "$UNIQUE_DIGEST" "output of cocoon pull $i"
done
n_os=$(cat "$work"/step*.out | grep -c '^NAME="cocoon-registry-busybox"')
n_token=$(cat "$work"/step*.out | grep -cxF "$UNIQUE_TOKEN")
[[ "$n_os" == 8 && "$n_token" == 8 ]] ||
    fail "expected 8 tasks to see the new image, $n_os saw its os-release, $n_token its token:
$(show)"

for blob in "${UNIQUE_BLOBS[@]}"; do
    n=$(blob_gets_since "$REGISTRY_OPEN_LOG" "$mark" "$blob")
    [[ "$n" == 1 ]] || fail "blob $blob was fetched $n times by 10 concurrent importers (expected 1); requests:
$(requests_since "$REGISTRY_OPEN_LOG" "$mark")"
done

cocoon_images_line "$UNIQUE_REF"; line=$CACHED_LINE
[[ -n "$line" ]] || fail "cocoon images does not list $UNIQUE_REF"

assert_cache_clean
cleanup
assert_no_leftovers
assert_node_healthy
pass
