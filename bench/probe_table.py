#!/usr/bin/python3
"""Prints medians of bench/file_access_probe.py's measures and their ratios to the first
variant, for the focused benches (file-access-bench.sh, squashfuse-options-bench.sh,
overlay-bench.sh):

  probe_table.py SAMPLES NAME...

SAMPLES has one line per probe run: the index of its variant among the NAMEs, then the
probe's line ("import MS walk MS ls MS"), or "failed" for a probe that failed (counted in
a last column, shown when any failed, and not timed).
"""
import statistics
import sys

MEASURES = ["import", "walk", "ls", "read"]

lines = [line.split() for line in open(sys.argv[1])]
names = sys.argv[2:]
present = {word for line in lines for word in line[1::2]}
measures = [m for m in MEASURES if m in present]
rows = []
for i, name in enumerate(names):
    mine = [line[1:] for line in lines if int(line[0]) == i]
    timed = [dict(zip(words[0::2], map(float, words[1::2]))) for words in mine
             if words != ["failed"]]
    medians = {m: statistics.median(t[m] for t in timed) if timed else float("nan")
               for m in measures}
    rows.append((name, medians, len(mine) - len(timed)))
show_failed = any(failed for _, _, failed in rows)
width = max(len(name) for name in names) + 2
print(f"{'variant':{width}}" + "".join(f"{m + ' ms':>11}{'ratio':>7}" for m in measures)
      + ("  failed" if show_failed else ""))
base = rows[0][1]
for name, medians, failed in rows:
    print(f"{name:{width}}"
          + "".join(f"{medians[m]:11.0f}{medians[m] / base[m]:7.2f}" for m in measures)
          + (f"  {failed:6}" if show_failed else ""))
