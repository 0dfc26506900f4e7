#!/usr/bin/python3
"""Build OCI image layouts offline (python3 standard library only) for the registry tests.

    make-oci.py fixtures IMAGES          the fixed test images, IMAGES/oci/NAME (tag latest):
        busybox    base layer + top layer (os-release "cocoon-registry-busybox", /srv);
                   config Env/WorkingDir/Cmd
        layers     base + layer2 (files, hardlink, symlink) + layer3 (whiteouts, opaque
                   directory, a setuid file)
        escape     base + a layer writing through a symlink that points outside the root
        dotdot     base + a layer with an entry named ../../cocoon-dotdot-pwned
        multiarch  image index: linux/arm64 (a dummy) first, then linux/amd64 (= busybox)
    make-oci.py unique LAYOUT TOKEN [--filler-mib N]
                   a 2-layer busybox image whose blobs are all new (TOKEN is written into
                   both layers); --filler-mib adds N MiB of incompressible data to the top
                   layer so that an import takes a moment
    make-oci.py big LAYOUT [--total-mib N] [--layers N]
                   a benchmark image: N layers of compressible pseudo-random data files
                   and many small files, about N MiB uncompressed in all (deterministic)
    make-oci.py digest LAYOUT            print the digest index.json tags "latest" with

Everything is deterministic (fixed mtimes, owners, gzip header without name or time):
rerunning rewrites nothing. Blobs that no image of a layout references any more are removed.
"""

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile

MTIME = 1704067200  # 2024-01-01T00:00:00Z: every entry, and the config's "created"
CREATED = "2024-01-01T00:00:00Z"
BUSYBOX = "/bin/busybox"
BIN_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin")

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"

BUSYBOX_ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "COCOON_IMAGE_VAR=from-image",
]


def die(message):
    print(f"make-oci: {message}", file=sys.stderr)
    sys.exit(1)


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class HashWriter:
    """A write-only file object that hashes and counts what passes through to `inner`."""

    def __init__(self, inner):
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        if self.inner is not None:
            self.inner.write(data)
        return len(data)

    def tell(self):
        return self.size

    def flush(self):
        if self.inner is not None:
            self.inner.flush()


class Layout:
    """An OCI image layout directory: blobs/sha256/<hex>, index.json, oci-layout."""

    def __init__(self, path):
        self.path = path
        self.blob_dir = os.path.join(path, "blobs", "sha256")
        os.makedirs(self.blob_dir, exist_ok=True)
        self.used = set()

    def _publish(self, tmp_path, hex_digest):
        """Move a finished blob into place (a rerun finds it there and changes nothing)."""
        final = os.path.join(self.blob_dir, hex_digest)
        if os.path.exists(final):
            os.unlink(tmp_path)
        else:
            os.chmod(tmp_path, 0o644)
            try:
                os.rename(tmp_path, final)
            except OSError:  # the temporary directory is on another file system
                staged = os.path.join(self.blob_dir, ".tmp-" + hex_digest)
                shutil.copyfile(tmp_path, staged)
                os.chmod(staged, 0o644)
                os.rename(staged, final)
                os.unlink(tmp_path)
        self.used.add(hex_digest)
        return "sha256:" + hex_digest

    def add_bytes(self, data):
        """Store `data` as a blob; return its digest."""
        hex_digest = hashlib.sha256(data).hexdigest()
        final = os.path.join(self.blob_dir, hex_digest)
        self.used.add(hex_digest)
        if not os.path.exists(final):
            write_file_atomic(final, data)
        return "sha256:" + hex_digest

    def add_json(self, media_type, value, extra=None):
        data = canonical_json(value)
        descriptor = {"mediaType": media_type, "digest": self.add_bytes(data), "size": len(data)}
        descriptor.update(extra or {})
        return descriptor

    def add_layer(self, fill, level=6):
        """Write a gzip layer; `fill(tar)` adds the entries. Returns (descriptor, diff_id)."""
        # Built outside the layout: a rerun that makes the same blob leaves the layout as it was.
        fd, tmp_path = tempfile.mkstemp(prefix="make-oci-layer-")
        with os.fdopen(fd, "wb") as out:
            compressed = HashWriter(out)
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0,
                               compresslevel=level)
            plain = HashWriter(gz)
            tar = tarfile.open(fileobj=plain, mode="w", format=tarfile.PAX_FORMAT)
            fill(Entries(tar))
            tar.close()
            gz.close()
        digest = self._publish(tmp_path, compressed.sha.hexdigest())
        descriptor = {"mediaType": MT_LAYER_GZIP, "digest": digest, "size": compressed.size}
        return descriptor, "sha256:" + plain.sha.hexdigest()

    def add_image(self, layers, config_body=None, architecture="amd64", variant=None,
                  history_note="make-oci.py"):
        """Config + manifest for `layers` [(descriptor, diff_id)]; returns the manifest
        descriptor (with a platform field)."""
        config = {
            "created": CREATED,
            "architecture": architecture,
            "os": "linux",
            "config": config_body or {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in layers]},
            "history": [{"created": CREATED, "created_by": f"{history_note} layer {i + 1}"}
                        for i in range(len(layers))],
        }
        if variant:
            config["variant"] = variant
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": self.add_json(MT_CONFIG, config),
            "layers": [descriptor for descriptor, _ in layers],
        }
        platform = {"architecture": architecture, "os": "linux"}
        if variant:
            platform["variant"] = variant
        return self.add_json(MT_MANIFEST, manifest, {"platform": platform})

    def add_index(self, manifests):
        return self.add_json(MT_INDEX, {"schemaVersion": 2, "mediaType": MT_INDEX,
                                        "manifests": manifests})

    def finish(self, descriptor, tag="latest"):
        """Point index.json's `tag` at `descriptor`; drop blobs nothing references."""
        top = {k: v for k, v in descriptor.items() if k != "platform"}
        top["annotations"] = {REF_NAME: tag}
        index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [top]}
        write_if_changed(os.path.join(self.path, "index.json"), canonical_json(index) + b"\n")
        write_if_changed(os.path.join(self.path, "oci-layout"),
                         canonical_json({"imageLayoutVersion": "1.0.0"}) + b"\n")
        for name in os.listdir(self.blob_dir):
            if name not in self.used:
                os.unlink(os.path.join(self.blob_dir, name))
        return descriptor["digest"]


def write_file_atomic(path, data):
    fd, tmp_path = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp_path, 0o644)
    os.rename(tmp_path, path)


def write_if_changed(path, data):
    try:
        with open(path, "rb") as existing:
            if existing.read() == data:
                return
    except FileNotFoundError:
        pass
    write_file_atomic(path, data)


class Entries:
    """Adds tar entries owned by root with a fixed mtime."""

    def __init__(self, tar):
        self.tar = tar

    def _info(self, name, kind, mode):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.mtime = MTIME
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    def dir(self, name, mode=0o755):
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode))

    def file(self, name, data, mode=0o644):
        if isinstance(data, str):
            data = data.encode()
        info = self._info(name, tarfile.REGTYPE, mode)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))

    def file_from(self, name, path, mode):
        info = self._info(name, tarfile.REGTYPE, mode)
        info.size = os.path.getsize(path)
        with open(path, "rb") as src:
            self.tar.addfile(info, src)

    def stream(self, name, size, chunks, mode=0o644):
        """A regular file of `size` bytes read from the iterator `chunks`."""
        info = self._info(name, tarfile.REGTYPE, mode)
        info.size = size
        self.tar.addfile(info, ChunkReader(chunks))

    def symlink(self, name, target):
        info = self._info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self.tar.addfile(info)

    def hardlink(self, name, target):
        info = self._info(name, tarfile.LNKTYPE, 0o644)
        info.linkname = target
        self.tar.addfile(info)


class ChunkReader:
    """read() over an iterator of byte strings, without copying the rest on every call."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.chunk = memoryview(b"")

    def read(self, size=-1):
        parts = []
        while size != 0:
            if not self.chunk:
                nxt = next(self.chunks, None)
                if nxt is None:
                    break
                self.chunk = memoryview(nxt)
            n = len(self.chunk) if size < 0 else min(size, len(self.chunk))
            parts.append(self.chunk[:n])
            self.chunk = self.chunk[n:]
            if size > 0:
                size -= n
        return b"".join(parts)


# --- image contents ------------------------------------------------------------------------

def busybox_applets():
    out = subprocess.run([BUSYBOX, "--list-full"], check=True, capture_output=True, text=True)
    applets = sorted({line.rsplit("/", 1)[-1] for line in out.stdout.split()
                      if "/" in line and line.rsplit("/", 1)[-1]})
    if len(applets) < 100:
        die(f"{BUSYBOX} --list-full returned only {len(applets)} applets")
    return applets


def fill_base(e, extra=None):
    """busybox with a link for every applet in all four bin directories (srun resolves a
    bare command against the host's PATH), passwd/group and the usual top directories."""
    for d in ("bin", "dev", "etc", "home", "proc", "root", "run", "sbin", "sys", "tmp",
              "usr", "usr/bin", "usr/sbin", "var", "var/tmp"):
        e.dir(d, {"tmp": 0o1777, "var/tmp": 0o1777, "root": 0o700}.get(d, 0o755))
    e.file_from("bin/busybox", BUSYBOX, 0o755)
    for d in BIN_DIRS:
        target = "../bin/busybox" if d in ("bin", "sbin") else "../../bin/busybox"
        for applet in busybox_applets_cached():
            if f"{d}/{applet}" != "bin/busybox":
                e.symlink(f"{d}/{applet}", target)
    e.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    e.file("etc/group", "root:x:0:\n")
    if extra:
        extra(e)


_applets = None


def busybox_applets_cached():
    global _applets
    if _applets is None:
        _applets = busybox_applets()
    return _applets


def os_release(name, ident):
    return f'NAME="{name}"\nID={ident}\nPRETTY_NAME="{name}"\nVERSION_ID=1\n'


def fill_busybox_top(e, extra=None):
    e.dir("etc")
    e.file("etc/os-release", os_release("cocoon-registry-busybox", "cocoon-registry"))
    e.dir("srv")
    if extra:
        extra(e)


BUSYBOX_CONFIG = {"Env": BUSYBOX_ENV, "WorkingDir": "/srv", "Cmd": ["/bin/sh"]}


def fill_layer2(e):
    e.dir("etc")
    e.file("etc/os-release", os_release("cocoon-registry-layers", "cocoon-registry-layers"))
    e.dir("data")
    e.file("data/keep", "keep\n")
    e.file("data/remove-me", "remove me\n")
    e.dir("data/dir")
    e.file("data/dir/a", "a\n")
    e.hardlink("data/hard", "data/keep")
    e.symlink("data/link", "keep")
    e.dir("opaque")
    e.file("opaque/old1", "old1\n")
    e.file("opaque/old2", "old2\n")


def fill_layer3(e):
    e.dir("bin")
    e.file("bin/suid-test", "#!/bin/sh\necho suid-test\n", 0o4755)
    e.dir("data")
    e.file("data/.wh.remove-me", "")
    e.file("data/.wh.dir", "")
    e.dir("opaque")
    e.file("opaque/.wh..wh..opq", "")
    e.file("opaque/new", "new\n")


def fill_escape(e):
    e.symlink("loophole", "../../../../../../tmp/cocoon-escape-target")
    e.file("loophole/pwned", "written through a symlink\n")


def fill_dotdot(e):
    e.file("../../cocoon-dotdot-pwned", "written outside the root\n")


def fill_arm64(e):
    e.dir("etc")
    e.file("etc/os-release", os_release("cocoon-registry-arm64", "cocoon-registry-arm64"))


def build_fixtures(images):
    oci = os.path.join(images, "oci")
    os.makedirs(oci, exist_ok=True)
    digests = {}

    def layout(name):
        return Layout(os.path.join(oci, name))

    lay = layout("busybox")
    base = lay.add_layer(fill_base)
    busybox_manifest = lay.add_image([base, lay.add_layer(fill_busybox_top)], BUSYBOX_CONFIG)
    digests["busybox"] = lay.finish(busybox_manifest)

    lay = layout("layers")
    layers = [lay.add_layer(fill_base), lay.add_layer(fill_layer2), lay.add_layer(fill_layer3)]
    digests["layers"] = lay.finish(lay.add_image(layers, {"Env": BUSYBOX_ENV[:1]}))

    for name, fill in (("escape", fill_escape), ("dotdot", fill_dotdot)):
        lay = layout(name)
        manifest = lay.add_image([lay.add_layer(fill_base), lay.add_layer(fill)],
                                 {"Env": BUSYBOX_ENV[:1]})
        digests[name] = lay.finish(manifest)

    lay = layout("multiarch")
    arm64 = lay.add_image([lay.add_layer(fill_arm64)], {"Env": BUSYBOX_ENV[:1]},
                          architecture="arm64", variant="v8")
    amd64 = lay.add_image([lay.add_layer(fill_base), lay.add_layer(fill_busybox_top)],
                          BUSYBOX_CONFIG)
    if amd64["digest"] != busybox_manifest["digest"]:
        die("multiarch: the amd64 manifest differs from the busybox image")
    digests["multiarch"] = lay.finish(lay.add_index([arm64, amd64]))
    digests["multiarch/amd64"] = amd64["digest"]
    digests["multiarch/arm64"] = arm64["digest"]

    for name, digest in digests.items():
        print(f"{name} {digest}")


def build_unique(path, token, filler_mib):
    def token_file(e):
        e.file("etc/cocoon-token-base", token + "\n")

    def top(e):
        e.file("etc/cocoon-token", token + "\n")
        if filler_mib:
            e.dir("filler")
            for i in range(filler_mib):
                e.file(f"filler/{i:04d}", os.urandom(1 << 20))

    lay = Layout(path)
    layers = [lay.add_layer(lambda e: fill_base(e, token_file)),
              lay.add_layer(lambda e: fill_busybox_top(e, top), level=1)]
    print(lay.finish(lay.add_image(layers, BUSYBOX_CONFIG, history_note=token)))


WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi "
         "rho sigma tau upsilon phi chi psi omega import numpy torch tensor kernel cuda float "
         "int64 def return class self weight bias layer module forward backward grad optim "
         "0 1 2 3 4 5 6 7 8 9 10 42 255 1024 4096 { } ( ) [ ] = == : ; , . -> # // /* */")


def build_big(path, total_mib, layer_count):
    """Deterministic, compressible (about 3:1) data: a pool of random words; each big file
    is a slice of the pool at a random offset, so files and squashfs blocks do not repeat."""
    rng = random.Random(20240101)
    words = WORDS.split()
    pool = " ".join(rng.choices(words, k=(24 << 20) // 5)).encode()
    pool_len = len(pool)
    if layer_count < 2:
        die("big: --layers must be at least 2 (the busybox base and one data layer)")
    per_layer = (total_mib << 20) // (layer_count - 1)

    def chunks(size, r):
        offset = r.randrange(pool_len)
        left = size
        while left:
            n = min(left, pool_len - offset, 1 << 20)
            yield pool[offset:offset + n]
            offset = (offset + n) % pool_len
            left -= n

    def fill_big(index):
        def fill(e):
            r = random.Random(1000 + index)
            top = f"opt/bench/layer{index}"
            e.dir("opt")
            e.dir("opt/bench")
            e.dir(top)
            written = 0
            # Many small files, like a Python or CUDA installation.
            e.dir(f"{top}/small")
            for i in range(1500):
                size = r.randrange(200, 16 << 10)
                e.stream(f"{top}/small/f{i:05d}.py", size, chunks(size, r))
                written += size
            e.dir(f"{top}/big")
            i = 0
            while written < per_layer:
                size = min(r.randrange(1 << 20, 12 << 20), per_layer - written)
                e.stream(f"{top}/big/blob{i:04d}.bin", size, chunks(size, r))
                written += size
                i += 1
        return fill

    lay = Layout(path)
    layers = [lay.add_layer(fill_base)]
    layers += [lay.add_layer(fill_big(i)) for i in range(1, layer_count)]
    print(lay.finish(lay.add_image(layers, BUSYBOX_CONFIG, history_note="bench")))


def layout_digest(path):
    with open(os.path.join(path, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    for descriptor in index.get("manifests", []):
        if descriptor.get("annotations", {}).get(REF_NAME) == "latest":
            print(descriptor["digest"])
            return
    die(f"{path}: no manifest tagged latest")


def main(argv):
    os.umask(0o022)
    if not os.access(BUSYBOX, os.X_OK):
        die(f"{BUSYBOX} not found (apt-get install busybox-static)")
    if len(argv) == 2 and argv[0] == "fixtures":
        build_fixtures(argv[1])
    elif len(argv) in (3, 5) and argv[0] == "unique":
        filler = 0
        if len(argv) == 5:
            if argv[3] != "--filler-mib":
                die("usage: make-oci.py unique LAYOUT TOKEN [--filler-mib N]")
            filler = int(argv[4])
        build_unique(argv[1], argv[2], filler)
    elif len(argv) >= 2 and argv[0] == "big":
        options = dict(zip(argv[2::2], argv[3::2]))
        unknown = set(options) - {"--total-mib", "--layers"}
        if unknown or len(argv) % 2:
            die("usage: make-oci.py big LAYOUT [--total-mib N] [--layers N]")
        build_big(argv[1], int(options.get("--total-mib", 400)), int(options.get("--layers", 5)))
    elif len(argv) == 2 and argv[0] == "digest":
        layout_digest(argv[1])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
