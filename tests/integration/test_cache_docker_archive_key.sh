#!/bin/bash
# A docker-archive has no manifest digest: its cache key must cover its layers as well as
# its configuration. Two archives with the same configuration and different layer content
# are two images, and each runs its own files.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_cli

work=$TEST_WORK/archive-key
cache=$TEST_WORK/cache-archive-key
cleanup() {
    rm -rf "$work" "$cache"
}
trap cleanup EXIT
rm -rf "$work" "$cache"
install -d -o "$TEST_USER" -m 0755 "$work"

# archive NAME CONTENT: busybox plus /which holding CONTENT, same configuration for all.
archive() {
    python3 - "$BUSYBOX_DIR" "$work/$1.tar" "$2" <<'PY' || fail "cannot build $work/$1.tar"
import io, json, os, sys, tarfile
root, out, content = sys.argv[1], sys.argv[2], sys.argv[3].encode()
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs) + sorted(files):
            path = os.path.join(directory, name)
            info = tar.gettarinfo(path, os.path.relpath(path, root))
            info.uid = info.gid = 0
            info.mtime = 0
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            elif info.isdir() or info.issym():
                tar.addfile(info)
    info = tarfile.TarInfo("which")
    info.size = len(content)
    tar.addfile(info, io.BytesIO(content))
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "config": {"Env": ["PATH=/bin"]},
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()
manifest = json.dumps([{"Config": "config.json", "RepoTags": ["t:latest"],
                        "Layers": ["layer.tar"]}]).encode()
with tarfile.open(out, "w") as tar:
    for name, data in (("manifest.json", manifest), ("config.json", config),
                       ("layer.tar", layer.getvalue())):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
PY
    chmod 0644 "$work/$1.tar"
}
archive first one
archive second two

run_cocoon COCOON_CACHE_DIR="$cache" pull "docker-archive:$work/first.tar"
assert_succeeded "cocoon pull docker-archive:$work/first.tar"
first=${OUT%% *}
run_cocoon COCOON_CACHE_DIR="$cache" pull "docker-archive:$work/second.tar"
assert_succeeded "cocoon pull docker-archive:$work/second.tar"
second=${OUT%% *}
[[ "$first" == sha256:* && "$second" == sha256:* ]] || fail "no digests from cocoon pull: '$first' '$second'"
[[ "$first" != "$second" ]] ||
    fail "two archives with different layers got the same cache key $first"

for pair in first:one second:two; do
    name=${pair%%:*} expected=${pair#*:}
    run_cocoon COCOON_CACHE_DIR="$cache" run "docker-archive:$work/$name.tar" cat /which
    assert_succeeded "cocoon run docker-archive:$work/$name.tar cat /which"
    assert_eq "$expected" "$OUT" "/which of $name.tar"
done

assert_cache_clean "$cache"
cleanup
assert_no_leftovers
assert_node_healthy
pass
