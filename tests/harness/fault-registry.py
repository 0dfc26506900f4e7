#!/usr/bin/python3
"""A registry that misbehaves on purpose, for the tests of cocoon's limits on registries.

    fault-registry.py LAYOUT PORT LOG [DELAY_MS]

Serves the image that LAYOUT's index.json tags "latest" (an OCI layout with one image
manifest) read-only over plain HTTP on 127.0.0.1:PORT, under any repository name. The last
component of the repository chooses what goes wrong:

    good          nothing: the image as it is
    oversize      each layer is its real bytes followed by endless junk, without a length
    stall         each layer starts, then trickles one byte a second
    slow          each layer comes at 8 KiB/s: never stalled, but slow
    nosize        the manifest gives no size for its layers
    deepconfig    the image configuration is nested 100,000 levels deep
    deepmanifest  the manifest is nested 100,000 levels deep
    liedigest     a HEAD of the manifest names a digest that is not the manifest's (GET
                  tells the truth)
    busy          each layer is answered 503 with Retry-After: 1 (logged as "answered 503
                  for sha256:...")
    latebottom    a small layer made up here is added on top (a file late-top/marker); the
                  image's bottom layer comes after a pause of 5 seconds, then all at once
    latetop       the same layer on top, which comes after a pause of 5 seconds; the
                  image's own layers come at once
    hostiletop    a layer made up here is added on top whose entry ../escape leaves the
                  root; the image's own layers come at 8 KiB/s
    bearer        token authentication, as Docker Hub's: a request without a token this
                  server gave answers 401 with a Bearer challenge whose realm is
                  http://127.0.0.1:PORT/token, which gives a new token good for 300 s
                  (logged as "GET /token ..."; a refused request as "... 401")
    bearershort   the same, with tokens good for 2 s

Each repository's manifest carries an annotation with the repository and this server's
start time, so its digest is new for every repository and every run: no cache can hold it
already. Responses to blobs have no Content-Length and end when the connection closes, so
that a client reads whatever is sent. A response that the client cuts off ends the handler.
LOG gets one line per request ("GET /v2/test/stall/blobs/sha256:... fault=stall") and one
per blob response that ends ("sent N bytes of sha256:... (fault, declared M): how"), so a
test can check how much the client read before it gave up.

DELAY_MS (default 0) holds every answer back that long, as a registry that far away
would (bench/registry-token-bench.sh).

Python 3 standard library only. Runs until killed.
"""

import gzip
import hashlib
import http.server
import io
import json
import os
import secrets
import sys
import tarfile
import threading
import time
import urllib.parse

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
FAULTS = ("good", "oversize", "stall", "slow", "nosize", "deepconfig", "deepmanifest",
          "liedigest", "busy", "latebottom", "latetop", "hostiletop", "bearer", "bearershort")
# The faults that want a token, and how long the tokens they give are good (seconds).
TOKEN_SECONDS = {"bearer": 300, "bearershort": 2}
# The faults that add a layer of their own on top, and its one entry.
TOP_LAYERS = {"latebottom": "late-top/marker", "latetop": "late-top/marker",
              "hostiletop": "../escape"}
LATE_SECONDS = 5
DEPTH_BOMB = b"[" * 100000 + b"]" * 100000
# However a fault streams, it gives up after this long: nothing outlives a test by much.
MAX_RESPONSE_SECONDS = 300


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def gzip_layer(name):
    """A gzip tar layer with one small file at `name` (kept as it is, even with "..")."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = f"a layer on top: {name}\n".encode()
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


class Image:
    def __init__(self, layout):
        self.layout = layout
        self.extra = {}  # digest -> bytes of blobs made up here (the deep config)
        with open(os.path.join(layout, "index.json")) as f:
            index = json.load(f)
        descriptor = next(m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "latest")
        self.manifest = json.loads(self.blob(descriptor["digest"]))
        self.started = str(time.time_ns())
        self.top_layers = {}  # fault -> descriptor of the layer it adds
        for fault, name in TOP_LAYERS.items():
            data = gzip_layer(name)
            self.extra[digest_of(data)] = data
            self.top_layers[fault] = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                      "digest": digest_of(data), "size": len(data)}

    def blob(self, digest):
        if digest in self.extra:
            return self.extra[digest]
        algorithm, hex_digest = digest.split(":", 1)
        if algorithm != "sha256" or not all(c in "0123456789abcdef" for c in hex_digest):
            raise KeyError(digest)
        with open(os.path.join(self.layout, "blobs", algorithm, hex_digest), "rb") as f:
            return f.read()

    def manifest_for(self, fault, repository):
        if fault == "deepmanifest":
            return DEPTH_BOMB
        manifest = json.loads(json.dumps(self.manifest))
        manifest.setdefault("annotations", {})["org.cocoon.test.fault"] = f"{repository} {self.started}"
        if fault in self.top_layers:
            manifest["layers"].append(self.top_layers[fault])
        if fault == "nosize":
            for layer in manifest["layers"]:
                del layer["size"]
        if fault == "deepconfig":
            self.extra[digest_of(DEPTH_BOMB)] = DEPTH_BOMB
            manifest["config"]["digest"] = digest_of(DEPTH_BOMB)
            manifest["config"]["size"] = len(DEPTH_BOMB)
        return json.dumps(manifest, sort_keys=True).encode()

    def is_layer(self, digest):
        return any(layer["digest"] == digest for layer in self.manifest["layers"])


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "cocoon-fault-registry"
    protocol_version = "HTTP/1.0"  # a body without a length ends when the connection closes

    def log_message(self, format, *args):  # the log file below instead of stderr
        pass

    def log(self, line):
        with self.server.log_lock, open(self.server.log_path, "a") as f:
            f.write(line + "\n")

    def parse(self):
        parts = self.path.split("/")
        # /v2/REPO.../manifests/REF or /v2/REPO.../blobs/DIGEST
        if len(parts) < 5 or parts[1] != "v2" or parts[-2] not in ("manifests", "blobs"):
            return None
        repository = "/".join(parts[2:-2])
        fault = parts[-3]
        return repository, fault if fault in FAULTS else "good", parts[-2], parts[-1]

    def do_HEAD(self):
        self.handle_request(head=True)

    def do_GET(self):
        self.handle_request(head=False)

    def give_token(self, head):
        scope = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get("scope", [""])[0]
        fault = scope.split(":")[1].split("/")[-1] if scope.count(":") == 2 else ""
        token = secrets.token_hex(16)
        with self.server.log_lock:
            self.server.tokens.add(token)
        self.log(f"GET /token scope={scope}")
        body = json.dumps({"token": token, "expires_in": TOKEN_SECONDS.get(fault, 60)}).encode()
        return self.answer(200, body, "application/json", head)

    def has_token(self):
        header = self.headers.get("Authorization", "")
        with self.server.log_lock:
            return header.startswith("Bearer ") and header[7:] in self.server.tokens

    def handle_request(self, head):
        time.sleep(self.server.delay)
        image = self.server.image
        if self.path in ("/v2/", "/v2"):
            return self.answer(200, b"{}", "application/json", head)
        if self.path.startswith("/token?"):
            return self.give_token(head)
        parsed = self.parse()
        if parsed is None:
            return self.answer(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}', "application/json", head)
        repository, fault, kind, reference = parsed
        if fault in TOKEN_SECONDS and not self.has_token():
            self.log(f"{self.command} {self.path} fault={fault} 401")
            port = self.server.server_address[1]
            challenge = (f'Bearer realm="http://127.0.0.1:{port}/token",service="fault-registry",'
                         f'scope="repository:{repository}:pull"')
            return self.answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', "application/json",
                               head, {"WWW-Authenticate": challenge})
        self.log(f"{self.command} {self.path} fault={fault}")
        if kind == "manifests":
            body = image.manifest_for(fault, repository)
            digest = digest_of(body)
            if fault == "liedigest" and head:
                digest = digest_of(body + b"a lie")
            return self.answer(200, body, MT_MANIFEST, head, {"Docker-Content-Digest": digest})
        try:
            data = image.blob(reference)
        except (KeyError, OSError):
            return self.answer(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}', "application/json", head)
        if fault == "busy" and image.is_layer(reference):
            self.log(f"answered 503 for {reference} (busy)")
            return self.answer(503, b'{"errors":[{"code":"UNAVAILABLE"}]}', "application/json", head,
                               {"Retry-After": "1"})
        streamed = image.is_layer(reference) and (
            fault in ("oversize", "stall", "slow", "hostiletop") or
            fault == "latebottom" and reference == image.manifest["layers"][0]["digest"]) or \
            fault == "latetop" and reference == image.top_layers[fault]["digest"]
        if head or not streamed:
            return self.answer(200, data, "application/octet-stream", head)
        self.stream(fault, reference, data)

    def answer(self, status, body, content_type, head, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    @staticmethod
    def chunks(fault, data):
        if fault == "oversize":
            yield data
            while True:
                yield b"\0" * 65536
        elif fault in ("latebottom", "latetop"):
            time.sleep(LATE_SECONDS)
            yield data
        elif fault == "stall":
            yield data[:512]
            for i in range(512, len(data)):
                time.sleep(1)
                yield data[i:i + 1]
        else:  # slow, hostiletop
            for i in range(0, len(data), 1024):
                yield data[i:i + 1024]
                time.sleep(1 / 8)

    def stream(self, fault, digest, data):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        sent = 0
        how = "gave up after the time limit"
        deadline = time.monotonic() + MAX_RESPONSE_SECONDS
        try:
            for chunk in self.chunks(fault, data):
                if time.monotonic() > deadline:
                    break
                self.wfile.write(chunk)
                self.wfile.flush()
                sent += len(chunk)
            else:
                how = "sent all"
        except (BrokenPipeError, ConnectionResetError):
            how = "the client closed the connection"
        self.log(f"sent {sent} bytes of {digest} ({fault}, declared {len(data)}): {how}")
        self.close_connection = True


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    layout, port, log_path = argv[0], int(argv[1]), argv[2]
    delay = int(argv[3]) / 1000 if len(argv) == 4 else 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.image = Image(layout)
    server.log_path = log_path
    server.delay = delay
    server.log_lock = threading.Lock()
    server.tokens = set()  # every token given; under log_lock
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
