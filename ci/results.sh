#!/usr/bin/env bash
# Trains the four classifier presets with our defaults and prints the
# Markdown table of docs/RESULTS.md from their metrics.json files.
#
#   ci/results.sh [OUTDIR]          (needs DIYNN_DATA or network access)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/results}
export DIYNN_DATA=${DIYNN_DATA:-$(cd .. && pwd)/shared/data}
go build -o "$out/diynn" ./cmd/diynn
run() { # name, then diynn train flags
	local name=$1
	shift
	"$out/diynn" train -quiet -out "$out/$name" "$@" >"$out/$name.log"
}
run iris-mlp -data iris -model iris-mlp
run fmnist-tanh -data fashion-mnist -model fmnist-tanh
run fmnist-relu -data fashion-mnist -model fmnist-relu
run kmnist-relu -data kmnist -model kmnist-relu -test-only
/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
rows = [("1", "iris-mlp", "Iris, 80/20 hold-out of 150"),
        ("2", "fmnist-tanh", "Fashion-MNIST, official test split"),
        ("3", "fmnist-relu", "Fashion-MNIST, official test split"),
        ("4", "kmnist-relu", "Kuzushiji-MNIST **test file only**, 80/20 split of its 10k")]
print("| # | model | data | epochs | train loss | test loss | accuracy | macro F1 | macro precision | macro recall | seconds |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for n, name, data in rows:
    m = json.load(open(f"{out}/{name}/metrics.json"))
    print(f"| {n} | {name} | {data} | {m['epochs']} | {m['train_loss']:.4f} | {m['test_loss']:.4f} | {m['accuracy']:.4f} | "
          f"{m['macro_f1']:.4f} | {m['macro_precision']:.4f} | {m['macro_recall']:.4f} | {m['seconds']:.0f} |")
PY
