#!/usr/bin/env bash
# Measures the CPU backend (gonum and OpenBLAS builds) and its PyTorch peer in
# one run, in interleaved rounds so that a noisy machine affects both alike,
# and prints raw tables; docs/BENCHMARKS.md records medians across rounds.
#
#   ci/bench.sh [rounds]        (needs libopenblas-dev and python3-torch)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
out=$(mktemp -d)
go build -o "$out/bench" ./cmd/bench
go build -tags openblas -o "$out/bench-openblas" ./cmd/bench

# OpenBLAS's SkylakeX kernels need AVX-512; on other CPUs that setting kills
# the process with SIGILL, so it is set only where the CPU has AVX-512.
if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $(date -u +%F)"

for r in $(seq "$rounds"); do
	echo "## round $r"
	for t in 1 2; do
		GOMAXPROCS=$t "$out/bench" gemm -repeats 5 -trans
		GOMAXPROCS=$t "$out/bench-openblas" gemm -repeats 5 -trans
		GOMAXPROCS=$t "$out/bench" epoch -repeats 3
		GOMAXPROCS=$t "$out/bench-openblas" epoch -repeats 3
	done
	/usr/bin/python3 bench/torch_bench.py --threads 1,2 --repeats 3
done
