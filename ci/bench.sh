#!/usr/bin/env bash
# Measures the CPU backend and its peers in one run, in interleaved rounds
# so that a noisy machine affects all alike, and prints raw tables;
# docs/BENCHMARKS.md records medians across rounds (bench/gemm_ratios.py
# summarises the GEMM tables).
#
#   ci/bench.sh [rounds]        (needs libopenblas-dev and python3-torch)
#
# Each round, at GOMAXPROCS 1 and 2: `bench gemm -gemm all -trans` from the
# -tags openblas build (diynn's SGEMM, gonum's, OpenBLAS on diynn's pool,
# OpenBLAS with its own threads, all in one process); one training epoch on
# the default pure-Go build (diynn's SGEMM), with gonum's GEMM, and on the
# OpenBLAS build; then PyTorch's epoch and GEMMs.
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
		GOMAXPROCS=$t "$out/bench-openblas" gemm -backend cpu -gemm all -repeats 5 -trans
		GOMAXPROCS=$t "$out/bench" epoch -backend cpu -repeats 3
		GOMAXPROCS=$t "$out/bench" epoch -backend cpu -gemm gonum -repeats 3
		GOMAXPROCS=$t "$out/bench-openblas" epoch -backend cpu -repeats 3
	done
	/usr/bin/python3 bench/torch_bench.py --threads 1,2 --repeats 3
done
