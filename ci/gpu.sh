#!/usr/bin/env bash
# Builds everything a CUDA machine needs to check and measure the cuda
# backend, for a machine with an NVIDIA GPU and driver but no Go toolchain.
#
#   ci/gpu.sh DIR       (here: builds -tags cuda binaries and a runner into DIR)
#   DIR/run.sh OUT      (there: runs them all and writes OUT/results.txt)
#
# The runner executes the conformance suite (each GEMM kernel too), the
# gradient checks and the PyTorch golden test on CUDA, a seeded fmnist-relu
# run compared with cpu, cmd/bench (GEMM at the shapes of issue #2 and 4096³,
# and training epochs, with A/B runs of the GEMM choice, the launch path and
# the captured step against eager launches),
# `diynn train -backend cuda` with and without captured steps, and the
# PyTorch CUDA peer scripts (eager, and with torch.cuda.graph).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: ci/gpu.sh DIR}
mkdir -p "$dir"
export CGO_CFLAGS="${CGO_CFLAGS:+$CGO_CFLAGS }-DCL_TARGET_OPENCL_VERSION=120"
go test -tags cuda -ldflags=-s -c -o "$dir/backend-cuda.test" ./backend/cuda
go test -tags cuda -ldflags=-s -c -o "$dir/train.test" ./train
go build -tags cuda -ldflags=-s -o "$dir/bench" ./cmd/bench
go build -tags cuda -ldflags=-s -o "$dir/diynn" ./cmd/diynn
cp bench/torch_bench.py bench/torch_train.py bench/torch_cnn.py bench/steps.py bench/idx.py "$dir/"
data=${DIYNN_DATA:-$(cd .. && pwd)/shared/data}
mkdir -p "$dir/data/fashion-mnist"
cp "$data"/fashion-mnist/*.gz "$dir/data/fashion-mnist/"
cat >"$dir/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs on the GPU machine; writes OUT/results.txt (default ./out).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
mkdir -p "$out"
export DIYNN_DATA=$here/data
exec > >(tee "$out/results.txt") 2>&1
echo "== $(date -u) on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
status=0
# Each step gets a time limit, so that one hung kernel cannot eat a lease.
step() { echo; echo "== [$SECONDS s] $*"; timeout "${STEP_LIMIT:-180}" "$@" || { echo "FAILED ($?): $*"; status=1; }; }
nvidia-smi || true
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo), $(nproc) threads, AVX-512F: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)"
step "$here/backend-cuda.test" -test.v -test.count=1
step "$here/train.test" -test.v -test.count=1 -test.run 'CUDA'
shapes=128x176x784,128x784x176,784x176x128,176x784x128,128x42x176,128x10x42,1024x1024x1024,4096x4096x4096
# GEMM: the shape-based kernel choice, then the 64×64 kernel alone (what
# the choice gains), then kernel launches through gorgonia.org/cu's Ctx
# goroutine instead of direct calls (what the direct calls gain).
step "$here/bench" gemm -backend cuda -trans -shapes $shapes
step env DIYNN_GPU_GEMM=tile "$here/bench" gemm -backend cuda -shapes $shapes
# gemm_pipe (double-buffered 128×128 tiles) against gemm_big, interleaved,
# at the sizes where gemm_big is chosen (issue 17: ≥ 85% of cuBLAS at 4096³).
for round in 1 2; do
	step env DIYNN_GPU_GEMM=big "$here/bench" gemm -backend cuda -trans -shapes 2048x2048x2048,4096x4096x4096,8192x8192x8192
	step env DIYNN_GPU_GEMM=pipe "$here/bench" gemm -backend cuda -trans -shapes 2048x2048x2048,4096x4096x4096,8192x8192x8192
done
step env DIYNN_CUDA_CTX=thread "$here/bench" gemm -backend cuda -shapes 128x176x784,128x10x42
step env DIYNN_CUDA_CTX=thread "$here/bench" epoch -backend cuda -repeats 5
# Epochs, ours (the step as a CUDA graph, then eager) and PyTorch's (eager,
# then the step as a torch.cuda.graph), three times each, interleaved.
for round in 1 2 3; do
	step "$here/bench" epoch -backend cuda -repeats 5
	step env DIYNN_CUDA_GRAPH=0 "$here/bench" epoch -backend cuda -repeats 5
	if command -v python3 >/dev/null; then
		if [ $round = 1 ]; then
			step python3 "$here/torch_bench.py" --device cuda --threads 1 --repeats 5 --graph --shapes $shapes
		else
			step python3 "$here/torch_bench.py" --device cuda --threads 1 --repeats 5 --graph --skip-gemm
		fi
	fi
done
# The CNN (fmnist-cnn, Adam, 20 000 samples): ours with and without the
# captured step, PyTorch eager and with torch.cuda.graph, interleaved.
for round in 1 2; do
	step "$here/bench" epoch -backend cuda -model fmnist-cnn -samples 20000 -repeats 3
	step env DIYNN_CUDA_GRAPH=0 "$here/bench" epoch -backend cuda -model fmnist-cnn -samples 20000 -repeats 3
	if command -v python3 >/dev/null; then
		step python3 "$here/torch_cnn.py" --device cuda --skip-layers --samples 20000 --repeats 3
		step python3 "$here/torch_cnn.py" --device cuda --skip-layers --samples 20000 --repeats 3 --graph
	fi
done
# The real job: fmnist-relu on Fashion-MNIST with test evaluation each epoch.
runs=$(mktemp -d)
step "$here/diynn" train -backend cuda -data fashion-mnist -model fmnist-relu -epochs 5 -train-metrics=false -quiet -out "$runs/fmnist-relu-cuda"
cat "$runs/fmnist-relu-cuda/history.csv"
step env DIYNN_CUDA_GRAPH=0 "$here/diynn" train -backend cuda -data fashion-mnist -model fmnist-relu -epochs 5 -train-metrics=false -quiet -out "$runs/fmnist-relu-cuda-eager"
cat "$runs/fmnist-relu-cuda-eager/history.csv"
if command -v python3 >/dev/null; then
	step python3 "$here/torch_train.py" "$DIYNN_DATA" --epochs 5 --device cuda
fi
echo; echo "== exit status $status after $SECONDS s"
exit $status
RUN
chmod +x "$dir/run.sh"
echo "packed $dir: run $dir/run.sh OUT on a machine with an NVIDIA GPU"
