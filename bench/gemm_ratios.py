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
    # 5 cells, or 6 with the device-timed column that cmd/bench now adds
    if len(cells) not in (5, 6) or not cells[4].replace(".", "").isdigit():
        continue
    impl = re.search(r", ([^,]*) GEMM$", cells[1])
    if impl:
        runs[(threads, impl.group(1).split()[0], cells[2], cells[3])].append(float(cells[4]))

med = {k: statistics.median(v) for k, v in runs.items()}
impls = sorted({k[1] for k in med})
for t in sorted({k[0] for k in med}):
    print(f"\n{t} thread(s): median GFLOP/s over {max(len(v) for v in runs.values())} rounds\n")
    print("| shape | op | " + " | ".join(impls) + " | diynn/OpenBLAS | diynn/best OpenBLAS |")
    print("|---|---|" + "---|" * (len(impls) + 2))
    ratios, best_ratios = [], []
    keys = sorted({(k[2], k[3]) for k in med if k[0] == t}, key=lambda k: (k[1], k[0]))
    for op, shape in keys:
        row = [med.get((t, i, op, shape)) for i in impls]
        ours = med.get((t, "diynn", op, shape))
        ob = med.get((t, "OpenBLAS", op, shape))
        obs = [v for i, v in ((i, med.get((t, i, op, shape))) for i in ("OpenBLAS", "OpenBLAS-threads")) if v]
        cells = ["", ""]
        if ours and ob:
            ratios.append(ours / ob)
            cells[0] = f"{ours / ob:.2f}"
        if ours and obs:
            best_ratios.append(ours / max(obs))
            cells[1] = f"{ours / max(obs):.2f}"
        print(f"| {shape} | {op} | " + " | ".join(f"{v:.1f}" if v else "" for v in row) + f" | {cells[0]} | {cells[1]} |")
    for name, rs in (("OpenBLAS (on diynn's pool)", ratios), ("the better of OpenBLAS's two threadings", best_ratios)):
        if rs:
            print(f"\nratio diynn / {name} at {t} thread(s): median {statistics.median(rs):.2f}, lowest {min(rs):.2f} over {len(rs)} cases")
