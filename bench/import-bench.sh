#!/bin/bash
# Registry import benchmark: `cocoon pull` of a multi-layer image of several hundred MB
# from the local test registry, against the usual pipeline run side by side on the same
# machine: skopeo copy (registry -> OCI layout) + umoci unpack --rootless + mksquashfs.
# Then a second `cocoon pull` of the now cached image, with the registry requests it made
# (a cached tag should cost one manifest request and no blob).
#
#   bench/import-bench.sh
#
# Environment:
#   COCOON_CLI       the cocoon command (default $COCOON_TEST_DIR/install/usr/local/bin/cocoon)
#   COCOON_YAML      site config for cocoon -c (default tests/integration/cocoon.yaml, which
#                    marks 127.0.0.1:5000 insecure)
#   BENCH_DIR        work directory (default $COCOON_TEST_DIR/bench/import; needs ~2 GB).
#                    Never the state directory itself: the run/ it empties is the cluster's.
#   BENCH_TOTAL_MIB  uncompressed image size (default 400), BENCH_LAYERS (default 5)
#   BENCH_RUNS       runs per pipeline, best one counts (default 3)
#
# Starts the test registries (tests/harness/registry.sh) when they are not running, and
# stops them again at the end in that case.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
COCOON_TEST_DIR=${COCOON_TEST_DIR:-/var/tmp/cocoon-test}
export COCOON_TEST_DIR
COCOON=${COCOON_CLI:-$COCOON_TEST_DIR/install/usr/local/bin/cocoon}
CONFIG=${COCOON_YAML:-$ROOT/tests/integration/cocoon.yaml}
WORK=${BENCH_DIR:-$COCOON_TEST_DIR/bench/import}
TOTAL_MIB=${BENCH_TOTAL_MIB:-400}
LAYERS=${BENCH_LAYERS:-5}
RUNS=${BENCH_RUNS:-3}
REGISTRY=127.0.0.1:5000
REF=$REGISTRY/bench/big:latest
REGISTRY_LOG=$COCOON_TEST_DIR/registry/open.log

die() { echo "import-bench: $*" >&2; exit 1; }
say() { echo "import-bench: $*" >&2; }

for tool in skopeo umoci mksquashfs python3 curl; do
    command -v "$tool" >/dev/null || die "$tool missing (run scripts/install-deps.sh)"
done
[[ -x "$COCOON" ]] || die "cocoon command not found at $COCOON (set COCOON_CLI)"
[[ -r "$CONFIG" ]] || die "config $CONFIG not readable (set COCOON_YAML)"

registry_up() {
    [[ "$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://$REGISTRY/v2/")" == 200 ]]
}

started_registry=0
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    rm -rf "$WORK/run"
    if (( started_registry )); then
        "$ROOT/tests/harness/registry.sh" stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

if ! registry_up; then
    say "starting the test registries"
    "$ROOT/tests/harness/registry.sh" start >&2
    started_registry=1
fi

mkdir -p "$WORK"
rm -rf "$WORK/run"
mkdir -p "$WORK/run"

# --- the image: built once (deterministic), pushed every time (a no-op when present) -----
layout=$WORK/big-oci
stamp_value=$(cat "$ROOT/tests/harness/make-oci.py" /bin/busybox | sha256sum | cut -d' ' -f1)-$TOTAL_MIB-$LAYERS
if [[ ! -f "$layout/.stamp" || "$(cat "$layout/.stamp")" != "$stamp_value" ]]; then
    say "building a $LAYERS-layer image of $TOTAL_MIB MiB in $layout (once)"
    rm -rf "$layout"
    python3 "$ROOT/tests/harness/make-oci.py" big "$layout" \
        --total-mib "$TOTAL_MIB" --layers "$LAYERS" >/dev/null
    echo "$stamp_value" > "$layout/.stamp"
fi
skopeo copy --quiet --dest-tls-verify=false "oci:$layout:latest" "docker://$REF" >/dev/null
compressed=$(python3 - "$layout" <<'PY'
import json, os, sys
layout = sys.argv[1]
index = json.load(open(os.path.join(layout, "index.json")))
digest = index["manifests"][0]["digest"].split(":")[1]
manifest = json.load(open(os.path.join(layout, "blobs", "sha256", digest)))
print(sum(layer["size"] for layer in manifest["layers"]))
PY
)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
min() { printf '%s\n' "$@" | sort -g | head -n1; }

# --- cocoon pull into an empty cache ---------------------------------------------------------
cocoon_pull() {
    local cache=$WORK/run/cocoon-cache t0 t1
    rm -rf "$cache"
    mkdir -p "$cache"
    sync
    t0=$(now)
    COCOON_CACHE_DIR=$cache "$COCOON" pull -c "$CONFIG" "$REF" >/dev/null 2>"$WORK/run/pull.log" ||
        die "cocoon pull $REF failed: $(tail -n 5 "$WORK/run/pull.log")"
    t1=$(now)
    elapsed "$t0" "$t1"
}

# --- skopeo copy + umoci unpack + mksquashfs ----------------------------------------------------
peer_pipeline() {
    local dir=$WORK/run/peer t0 t1 t2 t3
    rm -rf "$dir"
    mkdir -p "$dir"
    sync
    t0=$(now)
    skopeo copy --quiet --src-tls-verify=false "docker://$REF" "oci:$dir/oci:latest" >/dev/null
    t1=$(now)
    umoci unpack --rootless --image "$dir/oci:latest" "$dir/bundle" >/dev/null 2>&1 ||
        die "umoci unpack failed"
    t2=$(now)
    # The same compression as cocoon (zstd level 3), so the two outputs are alike.
    mksquashfs "$dir/bundle/rootfs" "$dir/out.sqsh" -noappend -comp zstd -Xcompression-level 3 -quiet >/dev/null
    t3=$(now)
    echo "$(elapsed "$t0" "$t3") $(elapsed "$t0" "$t1") $(elapsed "$t1" "$t2") $(elapsed "$t2" "$t3")"
}

cocoon_times=() peer_times=() skopeo_times=() umoci_times=() mksquashfs_times=()
for ((run = 1; run <= RUNS; run++)); do
    t=$(cocoon_pull)
    cocoon_times+=("$t")
    say "run $run: cocoon pull ${t}s"
    read -r total s u m < <(peer_pipeline)
    peer_times+=("$total") skopeo_times+=("$s") umoci_times+=("$u") mksquashfs_times+=("$m")
    say "run $run: skopeo+umoci+mksquashfs ${total}s (skopeo $s, umoci $u, mksquashfs $m)"
done
peer_sqsh_bytes=$(stat -c %s "$WORK/run/peer/out.sqsh")
rm -rf "$WORK/run/peer"
cocoon_best=$(min "${cocoon_times[@]}")
peer_best=$(min "${peer_times[@]}")
cache_bytes=$(du -sb "$WORK/run/cocoon-cache" | cut -f1)

# --- a second pull of the cached image -----------------------------------------------------------
cached_times=()
requests="" manifests="" blobs=""
for ((run = 1; run <= RUNS; run++)); do
    mark=$(wc -l < "$REGISTRY_LOG")
    t0=$(now)
    COCOON_CACHE_DIR=$WORK/run/cocoon-cache "$COCOON" pull -c "$CONFIG" "$REF" \
        >/dev/null 2>"$WORK/run/pull.log" ||
        die "second cocoon pull $REF failed: $(tail -n 5 "$WORK/run/pull.log")"
    t1=$(now)
    cached_times+=("$(elapsed "$t0" "$t1")")
    sleep 0.3   # the registry logs a request when its response is complete
    if (( run == 1 )); then
        lines=$(tail -n +"$((mark + 1))" "$REGISTRY_LOG" | grep -E '"[A-Z]+ /v2/[^"]* HTTP/' || true)
        requests=$(grep -c . <<<"$lines" || true)
        manifests=$(grep -cE '"(HEAD|GET) /v2/bench/big/manifests/' <<<"$lines" || true)
        blobs=$(grep -cE '"GET /v2/bench/big/blobs/' <<<"$lines" || true)
        request_list=$(sed -nE 's/.*"([A-Z]+ [^ ]+) HTTP\/[0-9.]+" ([0-9]+) .*/    \1 \2/p' <<<"$lines")
    fi
done
cached_best=$(min "${cached_times[@]}")

mib() { awk -v b="$1" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }
printf '\nImport of %s: %d layers, %s uncompressed, %s compressed (best of %d, %d CPUs)\n' \
    "$REF" "$LAYERS" "$TOTAL_MIB MiB" "$(mib "$compressed")" "$RUNS" "$(nproc)"
printf '%-46s %10s\n' "pipeline" "seconds"
printf '%-46s %10s\n' "cocoon pull (empty cache)" "$cocoon_best"
printf '%-46s %10s\n' "skopeo copy + umoci unpack + mksquashfs" "$peer_best"
printf '%-46s %10s\n' "  skopeo copy" "$(min "${skopeo_times[@]}")"
printf '%-46s %10s\n' "  umoci unpack --rootless" "$(min "${umoci_times[@]}")"
printf '%-46s %10s\n' "  mksquashfs -comp zstd (level 3)" "$(min "${mksquashfs_times[@]}")"
printf '%-46s %10s\n' "cocoon pull (cached)" "$cached_best"
awk -v p="$peer_best" -v c="$cocoon_best" \
    'BEGIN { printf "ratio: (skopeo+umoci+mksquashfs) / cocoon pull = %.2fx (above 1: cocoon is faster)\n", p / c }'
printf 'sizes: cocoon cache %s, mksquashfs output %s\n' "$(mib "$cache_bytes")" "$(mib "$peer_sqsh_bytes")"
printf 'cached pull: %s registry requests (%s manifest, %s blob GET); expected 1 manifest request, 0 blobs\n' \
    "$requests" "$manifests" "$blobs"
[[ -n "${request_list:-}" ]] && printf '%s\n' "$request_list"
exit 0
