#!/usr/bin/env python3
"""Summarises ci/bench-cnn.sh's raw output (stdin): medians across rounds of
each side's per-layer times and epoch seconds, at each thread count, the
ratios of every other side to torch's, and peak memory.

The raw output is sections headed `### round R | SIDE | threads T`, holding
the Markdown tables of `cmd/bench conv`, `cmd/bench epoch` or
bench/torch_cnn.py (columns found by name: layer, input, pass, ms, GFLOP/s;
s/epoch), and lines `peak RSS N MB` for the epoch run of that section.
"""
import re
import statistics
import sys
from collections import defaultdict

layer_ms = defaultdict(list)   # (threads, side, layer, input, pass) -> [ms]
layer_gf = defaultdict(list)   # same key -> [GFLOP/s]
epoch_s = defaultdict(list)    # (threads, side) -> [s]
rss = defaultdict(list)        # (threads, side) -> [MB]
rows = []                      # (layer, input, pass) in first-seen order
side = threads = None
cols = None
for line in sys.stdin:
    line = line.rstrip("\n")
    if line.startswith("machine:"):
        print(line)
        continue
    m = re.match(r"### round (\d+) \| (\S+) \| threads (\d+)", line)
    if m:
        side, threads, cols = m.group(2), int(m.group(3)), None
        continue
    m = re.match(r"peak RSS (\d+) MB", line)
    if m and side:
        rss[(threads, side)].append(int(m.group(1)))
        continue
    if not line.startswith("|") or side is None:
        continue
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if "pass" in cells or "s/epoch" in cells:
        cols = {c: i for i, c in enumerate(cells)}
        continue
    if cols is None or cells[0].startswith("---") or len(cells) != len(cols):
        continue
    if "s/epoch" in cols:
        epoch_s[(threads, side)].append(float(cells[cols["s/epoch"]]))
        continue
    key = (cells[cols["layer"]], cells[cols["input"]], cells[cols["pass"]])
    if key not in rows:
        rows.append(key)
    layer_ms[(threads,) + (side,) + key].append(float(cells[cols["ms"]]))
    gf = cells[cols["GFLOP/s"]]
    if gf != "-":
        layer_gf[(threads,) + (side,) + key].append(float(gf))

sides = sorted({k[1] for k in list(layer_ms) + list(epoch_s)}, key=lambda s: (s == "torch", s))
ours = [s for s in sides if s != "torch"]
all_threads = sorted({k[0] for k in list(layer_ms) + list(epoch_s)})
med = statistics.median


def fmt(v, spec=".3f"):
    return "-" if v is None else format(v, spec)


def get(d, key):
    return med(d[key]) if d.get(key) else None


for t in all_threads:
    n = max((len(v) for k, v in layer_ms.items() if k[0] == t), default=0)
    if not n:
        continue
    print(f"\n{t} thread(s): milliseconds per call, median over {n} rounds (GFLOP/s in brackets)\n")
    head = "| layer | input | pass | " + " | ".join(sides) + " | " + " | ".join(f"{s}/torch" for s in ours) + " |"
    print(head + "\n|" + "---|" * (head.count("|") - 1))
    for key in rows:
        cells, times = [], {}
        for s in sides:
            times[s] = get(layer_ms, (t, s) + key)
            gf = get(layer_gf, (t, s) + key)
            cells.append(fmt(times[s]) + (f" ({gf:.1f})" if gf is not None else ""))
        ratios = [fmt(times[s] / times["torch"], ".2f") if times[s] and times.get("torch") else "-" for s in ours]
        print(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")

if epoch_s:
    print("\nOne training epoch: seconds, median over rounds [rounds]; peak RSS, median over rounds\n")
    print("| side | " + " | ".join(f"{t} thread(s)" for t in all_threads) + " | peak RSS |")
    print("|---|" + "---|" * len(all_threads) + "---|")
    best = {}
    for s in sides:
        cells = []
        for t in all_threads:
            v = epoch_s.get((t, s))
            cells.append(f"{med(v):.3f} [{', '.join(f'{x:.3f}' for x in v)}]" if v else "-")
            if v:
                best[s] = min(best.get(s, float("inf")), med(v))
        mem = [m for t in all_threads for m in rss.get((t, s), [])]
        print(f"| {s} | " + " | ".join(cells) + f" | {f'{med(mem):.0f} MB' if mem else '-'} |")
    if "torch" in best:
        print()
        for s in ours:
            for t in all_threads:
                a, b = epoch_s.get((t, s)), epoch_s.get((t, "torch"))
                if a and b:
                    print(f"{s} / torch at {t} thread(s): {med(a) / med(b):.2f}")
            if s in best:
                print(f"{s}'s best / torch's best: {best[s]:.3f} / {best['torch']:.3f} = {best[s] / best['torch']:.2f}")
