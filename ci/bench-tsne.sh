#!/usr/bin/env bash
# t-SNE of Fashion-MNIST reduced to 50 dimensions by PCA (2-D, perplexity 30,
# 1000 iterations, learning rate auto = max(N/12/4, 50) on both sides):
#
#   1. diynn (Barnes-Hut, FFT) against scikit-learn's TSNE at 10 000 points
#      (the test images), in interleaved rounds: each side's seconds, KL
#      divergence, trustworthiness and 10-NN accuracy, and peak memory
#      (/usr/bin/time -v);
#   2. the crossover table, our Barnes-Hut against our FFT at 500, 1k,
#      2.5k, 5k, 10k, 20k and 70k points (the 10k test images, then the 60k
#      training ones);
#   3. at 70 000 points: diynn FFT (every round), diynn Barnes-Hut, diynn from the raw
#      pixels with -pca 50, the 3-D Barnes-Hut map, and scikit-learn once
#      (skip it with SKLEARN70K=0: it takes the better part of an hour).
#      On 2 cores the FFT method takes under a minute at 70k, Barnes-Hut a
#      few minutes, the 3-D map longer.
#
#   ci/bench-tsne.sh [rounds]   (needs DIYNN_DATA with fashion-mnist/, python3-sklearn
#                                (Debian: apt-get install python3-sklearn, 1.2 or later)
#                                and GNU time at /usr/bin/time)
#
# Every run prints one line; medians are taken by the reader over rounds.
# The machine is shared in CI: note its load (printed) beside the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenBLAS (scikit-learn's numpy) picks its kernels by CPU: on AVX-512
# machines name them, as the other benchmarks do (elsewhere it would die
# with SIGILL).
if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
rounds=${1:-3}
data=${DIYNN_DATA:-$(cd .. && pwd)/shared/data}
out=$(mktemp -d)
go build -o "$out/diynn" ./cmd/diynn
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $(date -u '+%F %H:%M UTC'); load $(cut -d' ' -f1-3 /proc/loadavg)"
py() { /usr/bin/python3 bench/tsne_sklearn.py "$data" "$@"; }
(cd bench && /usr/bin/python3 tsne_sklearn.py "$data" "$out/pca50-70k.csv" --n 70000 --repeats 0 --raw "$out/raw-70k.csv")
for n in 500 1000 2500 5000 10000 20000; do
	head -n $((n + 1)) "$out/pca50-70k.csv" >"$out/pca50-$n.csv"
done
# peak prints a command's wall time (the whole command: reading the CSV,
# the quality measures and the plot included) and peak resident memory
# from GNU time's report.
peak() {
	echo "wall $(grep 'Elapsed (wall clock)' "$1" | awk '{print $NF}'), $(grep 'Maximum resident' "$1" | awk '{printf "peak %.0f MB", $6/1024}')"
}
diynn() { # diynn LABEL ARGS...: one run, its final line and peak memory
	local label=$1
	shift
	/usr/bin/time -v -o "$out/time" "$out/diynn" tsne -perplexity 30 -iters 1000 -quiet -out "$out/map" "$@" >"$out/line"
	echo "$label | $(cat "$out/line") | $(peak "$out/time")"
}
echo "== 10 000 points: diynn against scikit-learn"
for r in $(seq "$rounds"); do
	echo "round $r | $(cd bench && /usr/bin/time -v -o "$out/time" /usr/bin/python3 tsne_sklearn.py "$data" "$out/pca50-10000.csv" --n 10000 --seed "$r" | tail -n 1) | $(peak "$out/time")"
	diynn "round $r | diynn bh" -in "$out/pca50-10000.csv" -method bh -seed "$r"
	diynn "round $r | diynn fft" -in "$out/pca50-10000.csv" -method fft -seed "$r"
done
echo "== crossover: Barnes-Hut against FFT"
for r in $(seq "$rounds"); do
	for n in 500 1000 2500 5000 10000 20000; do
		diynn "round $r | $n bh" -in "$out/pca50-$n.csv" -method bh -seed "$r"
		diynn "round $r | $n fft" -in "$out/pca50-$n.csv" -method fft -seed "$r"
	done
done
echo "== 70 000 points"
for r in $(seq "$rounds"); do
	diynn "round $r | 70k fft" -in "$out/pca50-70k.csv" -method fft -seed "$r"
done
diynn "70k bh" -in "$out/pca50-70k.csv" -method bh
diynn "70k fft from raw pixels, -pca 50" -in "$out/raw-70k.csv" -pca 50 -method fft
diynn "70k 3-D bh" -in "$out/pca50-70k.csv" -dims 3
if [ "${SKLEARN70K:-1}" != 0 ]; then
	echo "70k | $(cd bench && /usr/bin/time -v -o "$out/time" /usr/bin/python3 tsne_sklearn.py "$data" "$out/pca50-70k.csv" --n 70000 | tail -n 1) | $(peak "$out/time")"
fi
