#!/bin/bash
# The container's mounts are what the plan says (`cocoon run --dry-run`), read from
# /proc/self/mountinfo inside, for the squashfs and the directory image, writable and
# read-only: each planned mount is there with its flags (ro where planned, nosuid
# everywhere, nodev but on the device nodes), /proc, /sys, /dev and /tmp are the
# filesystems planned; the root is nosuid and nodev, read-only unless writable; no mount
# point is neither planned nor an entry of the image, and no host path outside them is
# visible. Nothing is left behind.
source "$(dirname "$0")/lib.sh"
require_fuse

# check_container WHAT IMAGE [OPTION...]: one container of IMAGE (whose tree is
# $BUSYBOX_DIR) against its plan.
check_container() {
    local what=$1 image=$2
    shift 2
    cocoon_run --dry-run "$@" "$image"
    assert_succeeded "cocoon run --dry-run ($what)"
    local plan=$OUT
    local script="$IN_IMAGE; cat /proc/self/mountinfo; echo ---; ls -a /; echo ---"
    local link
    for link in $(awk '$1 == "symlink" { print $2 }' <<<"$plan"); do
        script+="; echo \"$link \$(readlink $link)\""
    done
    script+="; echo ---; [ -e '$UNPRIV_DIR/install' ] && echo 'visible: $UNPRIV_DIR/install'"
    script+="; [ -e /usr/lib/x86_64-linux-gnu ] && echo 'visible: /usr/lib/x86_64-linux-gnu'; true"
    cocoon_run "$@" "$image" sh -c "$script"
    assert_succeeded "cocoon run ($what)"
    local mountinfo listing links visible
    mountinfo=$(awk '/^---$/ { exit } { print }' <<<"$OUT")
    listing=$(awk '/^---$/ { n++; next } n == 1' <<<"$OUT")
    links=$(awk '/^---$/ { n++; next } n == 2' <<<"$OUT")
    visible=$(awk '/^---$/ { n++; next } n == 3' <<<"$OUT")

    # Mount point -> options and filesystem type of the topmost mount there.
    local -A opts=() fstype=()
    local point options rest
    while read -r _ _ _ _ point options rest; do
        opts[$point]=$options
        rest=" $rest"   # optional fields, then " - FSTYPE SOURCE OPTIONS"
        rest=${rest#* - }
        fstype[$point]=${rest%% *}
    done <<<"$mountinfo"

    # The root.
    local root_line
    root_line=$(head -n1 <<<"$plan")
    [[ ",${opts[/]}," == *,nosuid,* && ",${opts[/]}," == *,nodev,* ]] ||
        fail "$what: / is mounted '${opts[/]}', not nosuid,nodev"
    if [[ "$root_line" == *"(read-only, "* ]]; then
        [[ "${opts[/]}" == ro,* ]] || fail "$what: / is '${opts[/]}', the plan says read-only"
    else
        [[ "${opts[/]}" == rw,* && "${fstype[/]}" == overlay ]] ||
            fail "$what: / is '${opts[/]}' (${fstype[/]}), the plan says a writable overlay"
    fi

    # Each planned operation.
    local -A planned=() recursive=() devices=()
    local kind target flags source
    while read -r kind target rest; do
        [[ "$kind" == bind || "$kind" == tmpfs || "$kind" == generate ]] || continue
        flags=""
        [[ "$rest" =~ \[([a-z,]*)\]$ ]] && flags=${BASH_REMATCH[1]}
        source=""
        [[ "$kind" == bind ]] && source=$(sed 's/^<- \([^ ]*\).*/\1/' <<<"$rest")
        if [[ ",$flags," == *,optional,* && ! -e "$source" ]]; then
            continue
        fi
        planned[$target]=1
        [[ ",$flags," == *,rec,* ]] && recursive[$target]=1
        [[ ",$flags," == *,dev,* ]] && devices[$target]=1
        [[ -n "${opts[$target]:-}" ]] || fail "$what: no mount at $target, planned: $kind $target $rest"
        if [[ ",$flags," == *,ro,* ]]; then
            [[ "${opts[$target]}" == ro,* ]] || fail "$what: $target is '${opts[$target]}', planned read-only"
        else
            [[ "${opts[$target]}" == rw,* ]] || fail "$what: $target is '${opts[$target]}', planned writable"
        fi
        [[ "$kind" != tmpfs || "${fstype[$target]}" == tmpfs ]] ||
            fail "$what: $target is ${fstype[$target]}, planned tmpfs"
    done <<<"$plan"
    assert_eq proc "${fstype[/proc]:-}" "$what: filesystem at /proc"
    assert_eq sysfs "${fstype[/sys]:-}" "$what: filesystem at /sys"
    assert_eq devpts "${fstype[/dev/pts]:-}" "$what: filesystem at /dev/pts"
    assert_contains "${opts[/dev/pts]}" nosuid "$what: /dev/pts"

    # Every mount: nosuid, nodev but the device nodes, and planned or an entry of the image.
    local dir ok
    for point in "${!opts[@]}"; do
        [[ ",${opts[$point]}," == *,nosuid,* ]] || fail "$what: $point is '${opts[$point]}', not nosuid"
        if [[ -z "${devices[$point]:-}" ]]; then
            [[ ",${opts[$point]}," == *,nodev,* ]] || fail "$what: $point is '${opts[$point]}', not nodev"
        fi
        [[ "$point" == / || -n "${planned[$point]:-}" ]] && continue
        ok=""
        for dir in "${!recursive[@]}"; do
            [[ "$point" == "$dir"/* ]] && ok=1
        done
        # A read-only root replicates the image's top level, and a directory that gets a
        # mount point is shadowed by a tmpfs replicating its entries: mounts of the image's
        # own entries, each under / or under an ancestor of a planned target.
        dir=${point%/*}
        dir=${dir:-/}
        if [[ -z "$ok" && ( -e "$BUSYBOX_DIR$point" || -L "$BUSYBOX_DIR$point" ) ]]; then
            [[ "$dir" == / ]] && ok=1
            for target in "${!planned[@]}"; do
                [[ "$target" == "$point"/* || "$target" == "$dir"/* ]] && ok=1
            done
        fi
        [[ -n "$ok" ]] || fail "$what: mount at $point is neither planned nor an entry of the image:
$mountinfo"
    done

    # Planned links; the top level is the image's; nothing else of the host is visible.
    while read -r kind target rest; do
        [[ "$kind" == symlink ]] || continue
        assert_contains "$links" "$target ${rest#-> }" "$what: link $target"
    done <<<"$plan"
    assert_eq "$(ls -a "$BUSYBOX_DIR" | sort)" "$(sort <<<"$listing")" "$what: entries of /"
    assert_eq "" "$visible" "$what: host paths inside"
}

check_container "squashfs, writable" "$BUSYBOX_SQSH"
check_container "squashfs, read-only" "$BUSYBOX_SQSH" --container-readonly
# A writable container of the user's own copy (see copy_image in lib.sh).
check_container "directory, writable" "$(copy_image busybox-own)"
check_container "directory, read-only" "$BUSYBOX_DIR" --container-readonly
# Requested mounts go where the plan puts them, with their flags; a mount point in a
# read-only image directory is made in a shadow of that directory.
mkdir -p "$WORK/data"
check_container "directory, read-only, with --container-mounts" "$BUSYBOX_DIR" --container-readonly \
    --container-mounts="$WORK/data:/usr/share/data:ro,$WORK/data:/var/data"
check_container "squashfs, --no-container-mount-home" "$BUSYBOX_SQSH" --no-container-mount-home

assert_no_leftovers
pass
