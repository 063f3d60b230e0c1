#!/usr/bin/env bash
# t-SNE against scikit-learn's on the 10k Fashion-MNIST test images reduced
# to 50 dimensions by PCA: 2-D, perplexity 30, 1000 iterations, in
# interleaved rounds. Prints each side's seconds and KL divergence.
#
#   ci/bench-tsne.sh [rounds]     (needs DIYNN_DATA and python3-sklearn)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
data=${DIYNN_DATA:-$(cd .. && pwd)/shared/data}
out=$(mktemp -d)
go build -o "$out/diynn" ./cmd/diynn
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(date -u +%F)"
/usr/bin/python3 bench/tsne_sklearn.py "$data" "$out/pca50.csv" --repeats 0
for r in $(seq "$rounds"); do
	echo "round $r | $(/usr/bin/python3 bench/tsne_sklearn.py "$data" "$out/pca50-$r.csv" --repeats 1 | tail -n 1)"
	echo "round $r | diynn $("$out/diynn" tsne -in "$out/pca50.csv" -perplexity 30 -iters 1000 -seed "$r" -quiet -out "$out/map")"
done
