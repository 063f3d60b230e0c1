#!/usr/bin/env bash
# CNN benchmark: fmnist-cnn's convolution, pooling and batch-norm layers one
# by one (`bench conv`) and one training epoch of it on synthetic data held
# on the device (`bench epoch -model fmnist-cnn`, Adam, batch 128), against
# bench/torch_cnn.py building the same network from the same spec, at 1 and
# 2 threads, in interleaved rounds so that a noisy machine affects both
# alike. Prints the raw tables, then bench/cnn_summary.py's medians over
# rounds, the ratios to PyTorch and the peak RSS of each epoch run.
#
#   ci/bench-cnn.sh [rounds] [samples]     (needs python3-torch; defaults 3, 60000)
#
# Threads: GOMAXPROCS for diynn; for PyTorch torch.set_num_threads and
# OMP_NUM_THREADS (its convolutions, through oneDNN) and OPENBLAS_NUM_THREADS
# (its linear layers' products), so that "1 thread" is one core for both.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
samples=${2:-60000}
repeats=${REPEATS:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/bench" ./cmd/bench
spec=$("$out/bench" spec fmnist-cnn)

# OpenBLAS's SkylakeX kernels need AVX-512; on other CPUs that setting kills
# the process with SIGILL, so it is set only where the CPU has AVX-512.
if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
peak() { echo "peak RSS $(($(cat "$out/rss") / 1024)) MB"; }
{
	echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; go $(go env GOVERSION); torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'); $(date -u '+%F %H:%M UTC')"
	echo "spec: $spec; $samples samples, $rounds rounds, $repeats repeats"
	for r in $(seq "$rounds"); do
		for t in 1 2; do
			echo "### round $r | diynn | threads $t"
			GOMAXPROCS=$t "$out/bench" conv -backend cpu -repeats "$repeats"
			GOMAXPROCS=$t /usr/bin/time -f %M -o "$out/rss" "$out/bench" epoch -backend cpu -model fmnist-cnn -samples "$samples" -repeats "$repeats"
			peak
			echo "### round $r | torch | threads $t"
			export OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t
			/usr/bin/python3 bench/torch_cnn.py --spec "$spec" --threads "$t" --repeats "$repeats" --skip-epoch
			/usr/bin/time -f %M -o "$out/rss" /usr/bin/python3 bench/torch_cnn.py --spec "$spec" --threads "$t" \
				--repeats "$repeats" --samples "$samples" --skip-layers
			peak
			unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS
		done
	done
} | tee "$out/raw"
echo
echo "## summary"
/usr/bin/python3 bench/cnn_summary.py <"$out/raw"
