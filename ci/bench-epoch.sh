#!/usr/bin/env bash
# diynn's training epoch on the CPU (cmd/bench epoch: the 784-176-42-10
# classifier, SGD with momentum, 60 000 synthetic samples, batch 128) at 2
# threads and 1, against PyTorch CPU at 1 and 2 threads, in interleaved
# rounds; then one profiled diynn run at 2 threads (issue 17's item 2 and
# its "distance to the limit" row).
#
#   ci/bench-epoch.sh [rounds]   (needs python3-torch for /usr/bin/python3)
set -euo pipefail
cd "$(dirname "$0")/.."
# PyTorch's OpenBLAS picks its kernels by CPU: on AVX-512 machines name
# them, as the other benchmarks do (elsewhere it would die with SIGILL).
if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
rounds=${1:-3}
out=$(mktemp -d)
go build -o "$out/bench" ./cmd/bench
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $(date -u); load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
	echo "## round $r"
	GOMAXPROCS=2 "$out/bench" epoch -backend cpu -repeats 5 | tail -n 1 | sed 's/^/diynn 2 threads /'
	GOMAXPROCS=1 "$out/bench" epoch -backend cpu -repeats 5 | tail -n 1 | sed 's/^/diynn 1 thread /'
	/usr/bin/python3 bench/torch_bench.py --threads 1,2 --repeats 5 --skip-gemm | grep epoch
done
GOMAXPROCS=2 "$out/bench" epoch -backend cpu -repeats 10 -cpuprofile "$out/epoch.prof" | tail -n 1
go tool pprof -top -nodecount=25 "$out/bench" "$out/epoch.prof" 2>/dev/null | head -n 35
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
