#!/usr/bin/python3
"""Times metadata-heavy work on the Python tree under ROOT (default /), printing one line
"import MS walk MS ls MS" (and "read MS" when LARGE is given). Run by
bench/file-access-bench.sh and bench/run-all.sh in a container (the image holds this file)
and on the host, so that the same work meets each filesystem.

  file_access_probe.py [ROOT [LARGE]]

  import  a fresh interpreter importing a set of stdlib and site packages (the first
          thing a job does on a fresh mount, so it runs first)
  walk    lstat of every entry of the Python trees (os.walk)
  ls      ls -lR of the same trees
  read    every file of the directory LARGE read once, sequentially, in 1 MiB pieces
"""
import os
import subprocess
import sys
import time

ROOT = sys.argv[1] if len(sys.argv) > 1 else "/"
LARGE = sys.argv[2] if len(sys.argv) > 2 else None
TREES = [os.path.join(ROOT, "usr/lib/python3.11"), os.path.join(ROOT, "usr/lib/python3")]
MODULES = ("asyncio, email.mime.multipart, http.server, json, unittest, xml.dom.minidom, "
           "decimal, sqlite3, ssl, argparse, logging.handlers, yaml, pygments.lexers, "
           "cryptography.x509, setuptools")


def timed(action):
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def walk():
    for tree in TREES:
        for top, dirs, files in os.walk(tree):
            for name in dirs + files:
                os.lstat(os.path.join(top, name))


def read_large():
    for name in sorted(os.listdir(LARGE)):
        with open(os.path.join(LARGE, name), "rb", buffering=0) as f:
            while f.read(1 << 20):
                pass


def run(argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


python = os.path.join(ROOT, "usr/bin/python3.11")
results = [
    ("import", timed(lambda: run([python, "-c", "import " + MODULES]))),
    ("walk", timed(walk)),
    ("ls", timed(lambda: run(["ls", "-lR"] + TREES))),
]
if LARGE:
    results.append(("read", timed(read_large)))
print(" ".join(f"{name} {ms:.1f}" for name, ms in results))
