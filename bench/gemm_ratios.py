#!/usr/bin/env python3
"""Summarises `cmd/bench gemm -gemm all` output (any number of rounds and
thread counts, concatenated on stdin): the median GFLOP/s of each SGEMM per
shape, op and thread count across rounds, the ratio of diynn's to
OpenBLAS's, and per thread count the median and lowest ratio."""
import re
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)  # (threads, impl, op, shape) -> [GFLOP/s]
threads = None
for line in sys.stdin:
    m = re.match(r"GEMM GFLOP/s, median of \d+, GOMAXPROCS=(\d+)", line)
    if m:
        threads = int(m.group(1))
        continue
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) != 5 or not cells[4].replace(".", "").isdigit():
        continue
    impl = re.search(r", ([^,]*) GEMM$", cells[1])
    if impl:
        runs[(threads, impl.group(1).split()[0], cells[2], cells[3])].append(float(cells[4]))

med = {k: statistics.median(v) for k, v in runs.items()}
impls = sorted({k[1] for k in med})
for t in sorted({k[0] for k in med}):
    print(f"\n{t} thread(s): median GFLOP/s over {max(len(v) for v in runs.values())} rounds\n")
    print("| shape | op | " + " | ".join(impls) + " | diynn/OpenBLAS |")
    print("|---|---|" + "---|" * (len(impls) + 1))
    ratios = []
    for (tt, impl, op, shape) in sorted(k for k in med if k[0] == t and k[1] == impls[0]):
        row = [med.get((t, i, op, shape)) for i in impls]
        ratio = ""
        if (t, "diynn", op, shape) in med and (t, "OpenBLAS", op, shape) in med:
            r = med[(t, "diynn", op, shape)] / med[(t, "OpenBLAS", op, shape)]
            ratios.append(r)
            ratio = f"{r:.2f}"
        print(f"| {shape} | {op} | " + " | ".join(f"{v:.1f}" if v else "" for v in row) + f" | {ratio} |")
    if ratios:
        print(f"\nratio diynn/OpenBLAS at {t} thread(s): median {statistics.median(ratios):.2f}, lowest {min(ratios):.2f} over {len(ratios)} cases")
