#!/usr/bin/python3
"""Prints the tables of bench/run-all.sh from its two files:

  bench_table.py SPEC SAMPLES

SPEC has one tab-separated row per variant: index, group, name, kind (time, ns or probe),
the index of the row its ratio is taken to, and for ns rows "TASKS,BARE_N,ONE,BARE_ONE"
(the task count, the bare row of as many tasks, the 1-task container row and its bare row).
SAMPLES has one line per round and variant: the index, then key/value pairs (ms, tasks,
namespaces, host, requests, blobs for a step; import, walk, ls, read from the probe).
"""
import statistics
import sys

MEASURES = ["import", "walk", "ls", "read"]


def load(spec_path, samples_path):
    rows = []
    for line in open(spec_path):
        index, group, name, kind, reference, extra = line.rstrip("\n").split("\t")
        rows.append({"index": int(index), "group": group, "name": name, "kind": kind,
                     "reference": int(reference), "extra": extra, "samples": []})
    for line in open(samples_path):
        words = line.split()
        pairs = dict(zip(words[1::2], map(float, words[2::2])))
        rows[int(words[0])]["samples"].append(pairs)
    return rows


def median(row, key):
    return statistics.median(s[key] for s in row["samples"])


def join_note(row, rows):
    """Per-task join cost: what the container adds at N tasks beyond what it adds at one,
    per further task. Wall-clock differences of whole steps, so a noisy estimate."""
    tasks, bare_n, one, bare_one = map(int, row["extra"].split(","))
    extra_n = median(row, "ms") - median(rows[bare_n], "ms")
    extra_one = median(rows[one], "ms") - median(rows[bare_one], "ms")
    per_task = (extra_n - extra_one) / (tasks - 1)
    one_ns = all(s["tasks"] == tasks and s["namespaces"] == 1 and s["host"] == 0
                 for s in row["samples"])
    verdict = "yes" if one_ns else "NO"
    return (f"        per task {per_task:+.2f} ms beyond one task; all {tasks} tasks in one "
            f"mount namespace, not the host's, in every round: {verdict}")


def name_width(rows):
    return max([34] + [len(row["name"]) for row in rows])


def step_table(rows):
    steps = [row for row in rows if row["kind"] != "probe" and row["samples"]]
    width = name_width(steps)
    print(f"{'group':7} {'variant':{width}} {'median ms':>10} {'ratio':>7} {'+ms':>8}")
    for row in steps:
        ms = median(row, "ms")
        base = median(rows[row["reference"]], "ms")
        print(f"{row['group']:7} {row['name']:{width}} {ms:10.1f} {ms / base:7.2f} {ms - base:+8.1f}")
        if row["kind"] == "ns" and row["extra"] != "-":
            print(join_note(row, rows))
        if "requests" in row["samples"][0]:
            print(f"        registry requests per step: {median(row, 'requests'):.0f} "
                  f"(blob downloads: {median(row, 'blobs'):.0f})")


def probe_table(rows):
    probes = [row for row in rows if row["kind"] == "probe" and row["samples"]]
    if not probes:
        return
    width = name_width(probes)
    print()
    print(f"{'inside the task':{width}}" + "".join(f"{m + ' ms':>10}{'ratio':>7}" for m in MEASURES))
    for row in probes:
        base = rows[row["reference"]]
        cells = "".join(f"{median(row, m):10.0f}{median(row, m) / median(base, m):7.2f}"
                        for m in MEASURES)
        print(f"{row['name']:{width}}{cells}")


def main():
    rows = load(sys.argv[1], sys.argv[2])
    step_table(rows)
    probe_table(rows)


main()
