#!/bin/bash
# cocoon-squashfuse, the default squashfs server: once a tree has been walked on a mount,
# walking it again asks the server nothing (the kernel keeps directory listings as well as
# lookups and attributes), so a later step on a warm mount walks without FUSE round trips.
# Shown without timing: the server is stopped (SIGSTOP) before the second walk, which must
# still finish and list the same (and before the first stat of the entries a first listing
# returned, READDIRPLUS), and so must `ls -lR`, which asks for extended attributes
# of every file (an image without any says so once), and reading a file and a symbolic
# link read before. squashfuse_ll, which answers every
# directory listing and attribute request itself, hangs there. Also: the tree, file
# contents, a symbolic link and (in an image that has them) extended attributes read
# through it are the image's (the first walk gets the attributes from READDIRPLUS, the
# listing with attributes, and they must be the ones the host has).
source "$(dirname "$0")/lib.sh"

server=$(find "$COCOON_TEST_DIR/install" -path '*/libexec/cocoon/cocoon-squashfuse' -type f \
    -print -quit)
[[ -x "$server" ]] || fail "no cocoon-squashfuse in the staged install $COCOON_TEST_DIR/install"

# Not a tmpfs: the second image needs a user extended attribute on the host.
scratch_dir /var/tmp
work=$SCRATCH
mkdir "$work/tree" "$work/mnt"
for d in 1 2 3 4 5 6; do
    for e in a b c; do
        mkdir -p "$work/tree/d$d/$e"
        for f in x y z; do echo "$d$e$f" > "$work/tree/d$d/$e/$f"; done
    done
done
ln -s d1/a/x "$work/tree/link"
chown 1234:5678 "$work/tree/d4/c/x" && chmod 0600 "$work/tree/d4/c/x"
ln "$work/tree/d5/a/y" "$work/tree/hardlink"
mksquashfs "$work/tree" "$work/tree.sqsh" -quiet -noappend -comp gzip >/dev/null ||
    fail "mksquashfs of the test tree failed"

server_pid=
unmount() {
    if [[ -n "$server_pid" ]]; then
        kill -CONT "$server_pid" 2>/dev/null
        mountpoint -q "$work/mnt" && umount "$work/mnt"
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
        server_pid=
    fi
}
trap 'unmount; remove_scratch_dirs' EXIT

mount_image() {
    "$server" -f -o ro "$1" "$work/mnt" 2>"$work/server.err" &
    server_pid=$!
    for ((i = 0; i < 100; i++)); do mountpoint -q "$work/mnt" && return; sleep 0.05; done
    fail "cocoon-squashfuse did not mount $1: $(cat "$work/server.err")"
}

mount_image "$work/tree.sqsh"

# Every entry's name, mode, owner, link count, a file's size and modification time and a
# link's target, as the host and the mount list them (a directory's size and link count
# are its filesystem's own). The first walk of the mount gets them from READDIRPLUS (the
# listing with attributes), the second from the kernel's caches. Not find(1): it asks for
# the filesystem's statistics (statfs), which FUSE always forwards.
cat > "$work/listing.py" <<'PY'
import os, stat, sys
top = sys.argv[1]
for root, dirs, files in os.walk(top):
    for name in dirs + files:
        path = os.path.join(root, name)
        st = os.lstat(path)
        rel = os.path.relpath(path, top)
        owner = f"{oct(st.st_mode)} {st.st_uid}:{st.st_gid} {st.st_nlink if not stat.S_ISDIR(st.st_mode) else ''}"
        if stat.S_ISLNK(st.st_mode):
            print(rel, owner, "link", os.readlink(path))
        elif stat.S_ISREG(st.st_mode):
            print(rel, owner, "file", st.st_size, int(st.st_mtime))
        else:
            print(rel, owner)
PY
listing() { python3 "$work/listing.py" "$1" | sort; }
expected=$(listing "$work/tree")
# A walk that only lists (os.walk: readdir, no stat) fills the kernel's caches with every
# entry's attributes (READDIRPLUS): the server stopped, the full listing then needs nothing.
python3 -c 'import os, sys; [None for _ in os.walk(sys.argv[1])]' "$work/mnt" ||
    fail "cannot walk the mount"
kill -STOP "$server_pid"
first=$(timeout 10 python3 "$work/listing.py" "$work/mnt" | sort; exit "${PIPESTATUS[0]}") ||
    fail "the attributes of entries a listing returned were asked for again (rc $?): no READDIRPLUS"
kill -CONT "$server_pid"
assert_eq "$expected" "$first" "the tree through cocoon-squashfuse"
assert_eq 3bz "$(cat "$work/mnt/d3/b/z")" "a file through cocoon-squashfuse"
assert_eq 1ax "$(cat "$work/mnt/link")" "a symbolic link through cocoon-squashfuse"

assert_eq "[]" "$(python3 -c 'import os, sys; print(os.listxattr(sys.argv[1]))' "$work/mnt/d1/a/x")" \
    "extended attributes of a file in an image without any"
long_first=$(ls -lR "$work/mnt")

kill -STOP "$server_pid"
second=$(timeout 10 python3 "$work/listing.py" "$work/mnt" | sort; exit "${PIPESTATUS[0]}") ||
    fail "a second walk of the same mount waited for the stopped server (rc $?): the kernel did not keep the directory listings"
assert_eq "$first" "$second" "the second walk, with the server stopped"
long_second=$(timeout 10 ls -lR "$work/mnt") ||
    fail "ls -lR of the same mount waited for the stopped server (rc $?): extended attributes asked for each file"
assert_eq "$long_first" "$long_second" "ls -lR, with the server stopped"
assert_eq 3bz "$(timeout 10 cat "$work/mnt/d3/b/z")" "a file read before, with the server stopped"
assert_eq 1ax "$(timeout 10 cat "$work/mnt/link")" "a symbolic link read before, with the server stopped"
unmount

# An image with extended attributes: they are served as they are.
python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.cocoon", b"kept")' "$work/tree/d2/b/y" ||
    fail "cannot set an extended attribute in $work/tree"
mksquashfs "$work/tree" "$work/xattrs.sqsh" -quiet -noappend -comp gzip -xattrs >/dev/null ||
    fail "mksquashfs of the test tree with an extended attribute failed"
mount_image "$work/xattrs.sqsh"
assert_eq "b'kept'" "$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.cocoon"))' "$work/mnt/d2/b/y")" \
    "an extended attribute in the image"
unmount

pass "a second walk or read on a cocoon-squashfuse mount asks the server nothing; extended attributes are the image's"
