#!/usr/bin/env bash
# Real-data training benchmark: `diynn train` (pure Go and -tags openblas)
# against bench/torch_train.py on Fashion-MNIST, fmnist-relu, 3 epochs, in
# interleaved rounds. Prints the median epoch seconds (from history.csv:
# training plus test evaluation) and peak RSS of each run.
#
#   ci/bench-train.sh [rounds]      (needs DIYNN_DATA, libopenblas-dev, python3-torch)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
data=${DIYNN_DATA:-$(cd .. && pwd)/shared/data}
out=$(mktemp -d)
go build -o "$out/diynn" ./cmd/diynn
go build -tags openblas -o "$out/diynn-openblas" ./cmd/diynn
if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(date -u +%F)"

median_epoch() { # history.csv → median of the seconds column
	tail -n +2 "$1" | cut -d, -f7 | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
for r in $(seq "$rounds"); do
	for bin in diynn diynn-openblas; do
		for t in 1 2; do
			rm -rf "$out/run"
			peak=$( { GOMAXPROCS=$t /usr/bin/time -f "%M" "$out/$bin" train -data fashion-mnist -data-dir "$data" \
				-model fmnist-relu -epochs 3 -train-metrics=false -quiet -out "$out/run" >/dev/null; } 2>&1 | tail -n 1)
			echo "round $r | $bin | threads $t | median epoch $(median_epoch "$out/run/history.csv") s | peak RSS $((peak / 1024)) MB"
		done
	done
	for t in 1 2; do
		echo "round $r | torch | threads $t | $(/usr/bin/python3 bench/torch_train.py "$data" --epochs 3 --threads $t | tail -n 1)"
	done
done
