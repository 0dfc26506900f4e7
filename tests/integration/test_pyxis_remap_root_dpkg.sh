#!/bin/bash
# With --container-remap-root a package manager works as root inside the container: dpkg
# (the image's, busybox's applet) installs a .deb built here with dpkg-deb, runs its
# postinst as uid 0 and records it as installed, in the writable root. A file written to
# a bind mount as "root" belongs to the user on the host.
source "$(dirname "$0")/lib.sh"
require_plugin
require_images
command -v dpkg-deb >/dev/null || skip "dpkg-deb missing on this host"
# The list is read whole: with pipefail, a `grep -q` that stops at the first match would
# make busybox die of SIGPIPE and the check fail at random.
applets=$("$IMAGES/busybox/bin/busybox" --list)
grep -qx dpkg <<<"$applets" || skip "the test image's busybox has no dpkg"

dir=$TEST_WORK/remap-dpkg
rm -rf "$dir"
mkdir -p "$dir/pkg/DEBIAN" "$dir/pkg/usr/share/cocoon-hello" "$dir/out"
cat > "$dir/pkg/DEBIAN/control" <<'EOF'
Package: cocoon-hello
Version: 1.0
Architecture: all
Maintainer: cocoon tests <tests@localhost>
Description: a package for the remap-root test
EOF
printf '#!/bin/sh\nid -u > /var/lib/cocoon-hello-postinst\n' > "$dir/pkg/DEBIAN/postinst"
chmod 0755 "$dir/pkg/DEBIAN/postinst"
echo "hello from the package" > "$dir/pkg/usr/share/cocoon-hello/hello.txt"
dpkg-deb -Zgzip --root-owner-group --build "$dir/pkg" "$dir/out/cocoon-hello.deb" >/dev/null ||
    fail "dpkg-deb could not build the test package"
chown -R "$TEST_USER" "$dir"

run_user srun --container-remap-root "--container-image=$BUSYBOX_SQSH" \
    "--container-mounts=$dir/out:/out" sh -c "$IN_IMAGE"'
    mkdir -p /var/lib/dpkg/info && touch /var/lib/dpkg/status
    dpkg -i /out/cocoon-hello.deb >/dev/null || exit 1
    cat /usr/share/cocoon-hello/hello.txt
    echo "postinst as $(cat /var/lib/cocoon-hello-postinst)"
    dpkg -l | grep "^ii *cocoon-hello"
    stat -c "owner %u" /usr/share/cocoon-hello/hello.txt
    id -u > /out/written-as-root'
assert_succeeded "dpkg -i as root in the container"
assert_contains "$OUT" "hello from the package" "the installed file"
assert_contains "$OUT" "postinst as 0" "the postinst's uid"
assert_contains "$OUT" "cocoon-hello" "dpkg -l after the install"
assert_contains "$OUT" "owner 0" "the installed file's owner inside"
assert_eq 0 "$(cat "$dir/out/written-as-root")" "uid inside"
assert_eq "$TEST_USER" "$(stat -c %U "$dir/out/written-as-root")" "owner on the host of a file root wrote"
rm -rf "$dir"

assert_no_leftovers
assert_node_healthy
pass
