#!/bin/bash
# Layers applied in order: whiteouts delete, an opaque directory hides the lower layers'
# entries, hardlinks stay hardlinks, symlinks stay symlinks, setuid bits are stripped.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
require_registry

IMAGE=$REGISTRY_OPEN/test/layers:latest
# key=value lines, one per fact.
probe='echo "os=$(grep ^NAME= /etc/os-release)"
echo "keep=$(cat /data/keep)"
echo "hard=$(cat /data/hard)"
echo "inode_keep=$(stat -c %i /data/keep)"
echo "inode_hard=$(stat -c %i /data/hard)"
echo "links_keep=$(stat -c %h /data/keep)"
echo "link=$(readlink /data/link)"
echo "link_content=$(cat /data/link)"
echo "data=$(ls -A /data | tr "\n" " ")"
echo "opaque=$(ls -A /opaque | tr "\n" " ")"
echo "new=$(cat /opaque/new)"
echo "suid=$(stat -c %a /bin/suid-test)"
[ -e /data/remove-me ] && echo "remove_me=exists"
[ -e /data/dir ] && echo "dir=exists"
true'

run_user timeout "$COCOON_TIMEOUT" srun "--container=$IMAGE" sh -c "$probe"
assert_succeeded "srun --container=$IMAGE (layers probe)"
note "probe output:
$OUT"
value() { sed -n "s/^$1=//p" <<<"$OUT"; }

assert_eq 'NAME="cocoon-registry-layers"' "$(value os)" "os-release of the layers image"
assert_eq keep "$(value keep)" "/data/keep"
assert_eq keep "$(value hard)" "/data/hard (hardlink to /data/keep)"
[[ -n "$(value inode_keep)" ]] || fail "no inode number for /data/keep"
assert_eq "$(value inode_keep)" "$(value inode_hard)" "inode of /data/hard (hardlink of /data/keep)"
assert_eq 2 "$(value links_keep)" "link count of /data/keep"
assert_eq keep "$(value link)" "target of the symlink /data/link"
assert_eq keep "$(value link_content)" "content through /data/link"
assert_eq "hard keep link " "$(value data)" "entries of /data (remove-me and dir whited out, no .wh. files)"
assert_eq "new " "$(value opaque)" "entries of the opaque directory /opaque"
assert_eq new "$(value new)" "/opaque/new"
assert_eq 755 "$(value suid)" "mode of /bin/suid-test (setuid stripped)"
[[ -z "$(value remove_me)" ]] || fail "/data/remove-me exists despite its whiteout"
[[ -z "$(value dir)" ]] || fail "/data/dir exists despite its whiteout"

assert_cache_clean
assert_no_leftovers
assert_node_healthy
pass
