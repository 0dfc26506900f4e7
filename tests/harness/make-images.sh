#!/bin/bash
# Build the integration-test images offline from Debian packages already on the host.
#
#   make-images.sh OUTDIR
#
# Produces (all world-readable unless stated):
#   OUTDIR/busybox/         directory rootfs: busybox-static plus a link for every applet
#   OUTDIR/busybox.sqsh     the same tree as a squashfs image
#   OUTDIR/corrupt.sqsh     starts with the squashfs magic, then garbage: mounting must fail
#   OUTDIR/truncated.sqsh   the first 4 KiB of busybox.sqsh: the superblock is fine, the rest gone
#   OUTDIR/unreadable.sqsh  copy of busybox.sqsh, mode 0600 owned by root
#
# Rerunnable: when OUTDIR/.stamp matches this script and the busybox binary, nothing is rebuilt.
set -euo pipefail

die() { echo "make-images: $*" >&2; exit 1; }

(( $# == 1 )) || die "usage: make-images.sh OUTDIR"
outdir=$1
busybox=/bin/busybox
[[ -x "$busybox" ]] || die "$busybox not found (apt-get install busybox-static)"
command -v mksquashfs >/dev/null || die "mksquashfs not found (apt-get install squashfs-tools)"
# A dynamically linked busybox would need the host's libc inside the image.
if ! LC_ALL=C file -b "$busybox" 2>/dev/null | grep -q 'statically linked'; then
    command -v file >/dev/null && die "$busybox is not statically linked (need busybox-static)"
fi

self=${BASH_SOURCE[0]}
stamp_value=$(cat "$self" "$busybox" | sha256sum | cut -d' ' -f1)

mkdir -p "$outdir"
chmod 0755 "$outdir"
outdir=$(cd "$outdir" && pwd -P)

up_to_date() {
    [[ -f "$outdir/.stamp" && "$(cat "$outdir/.stamp")" == "$stamp_value" ]] || return 1
    local f
    for f in busybox/bin/busybox busybox.sqsh corrupt.sqsh truncated.sqsh unreadable.sqsh; do
        [[ -e "$outdir/$f" ]] || return 1
    done
}

if up_to_date; then
    echo "make-images: $outdir is up to date"
    exit 0
fi

rm -f "$outdir/.stamp"
umask 022
tmp=$(mktemp -d "$outdir/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- busybox directory rootfs ---------------------------------------------------------
root=$tmp/busybox
mkdir -p "$root"
for d in bin sbin usr/bin usr/sbin proc sys dev tmp home etc var var/tmp run root; do
    mkdir -p "$root/$d"
done
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 0700 "$root/root"
install -m 0755 "$busybox" "$root/bin/busybox"

# busybox --list-full names each applet's canonical place (bin/cat, usr/bin/env, ...).
# srun resolves a bare command against the *host* PATH, so a task may ask for
# /usr/bin/cat while busybox calls it bin/cat: give every applet a link in all four
# bin directories. Links are relative so the tree also works when inspected on the host.
mapfile -t applets < <("$busybox" --list-full)
(( ${#applets[@]} > 100 )) || die "busybox --list-full returned only ${#applets[@]} applets"
for applet in "${applets[@]}"; do
    name=${applet##*/}
    [[ "$applet" == */* && -n "$name" ]] || continue   # e.g. "linuxrc" has no directory
    for d in bin sbin usr/bin usr/sbin; do
        [[ "$d/$name" == bin/busybox ]] && continue
        case $d in
            bin|sbin) target=../bin/busybox ;;
            *)        target=../../bin/busybox ;;
        esac
        ln -sfn "$target" "$root/$d/$name"
    done
done

cat > "$root/etc/os-release" <<'OSR'
NAME="cocoon-test-busybox"
ID=cocoon-busybox
PRETTY_NAME="cocoon test image (busybox)"
VERSION_ID=1
OSR
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
printf 'cocoon-test-busybox\n' > "$root/etc/hostname"
chmod -R a+rX "$root"

# --- squashfs images ------------------------------------------------------------------
mksquashfs "$root" "$tmp/busybox.sqsh" -noappend -all-root -quiet \
    -mkfs-time 0 -all-time 0 >/dev/null
chmod 0644 "$tmp/busybox.sqsh"

# "hsqs" magic followed by 64 KiB - 4 bytes of deterministic garbage (a fixed-seed LCG),
# so tools see a squashfs magic number but the superblock is nonsense.
{
    printf 'hsqs'
    # awk emits "\xHH" escapes; printf %b turns them into raw bytes (NULs included).
    printf '%b' "$(awk 'BEGIN { s = 12345;
        for (i = 0; i < 65532; i++) { s = (s * 1103515245 + 12345) % 2147483648;
                                      printf "\\x%02x", int(s / 65536) % 256 } }')"
} > "$tmp/corrupt.sqsh"
[[ $(stat -c %s "$tmp/corrupt.sqsh") == 65536 ]] || die "corrupt.sqsh has the wrong size"
chmod 0644 "$tmp/corrupt.sqsh"

# A valid superblock with the rest cut off: only squashfuse can tell it is broken.
head -c 4096 "$tmp/busybox.sqsh" > "$tmp/truncated.sqsh"
chmod 0644 "$tmp/truncated.sqsh"

cp "$tmp/busybox.sqsh" "$tmp/unreadable.sqsh"
chown 0:0 "$tmp/unreadable.sqsh" 2>/dev/null || true
chmod 0600 "$tmp/unreadable.sqsh"

# --- publish ------------------------------------------------------------------------------
rm -rf "$outdir/busybox"
mv "$tmp/busybox" "$outdir/busybox"
for f in busybox.sqsh corrupt.sqsh truncated.sqsh unreadable.sqsh; do
    mv -f "$tmp/$f" "$outdir/$f"
done
printf '%s\n' "$stamp_value" > "$outdir/.stamp"
echo "make-images: built busybox, busybox.sqsh, corrupt.sqsh, truncated.sqsh, unreadable.sqsh in $outdir"
