#!/usr/bin/env bash
# The test command of the README and of CI: installs what the tests need on a
# Debian machine (as root), then runs gofmt, go vet and go test for the
# default build and for every build tag that this machine can run.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null; then
	echo "ci/test.sh: no Go toolchain; install Go $(sed -n 's/^go //p' go.mod) or newer from go.dev/dl" >&2
	exit 1
fi

# System packages: gcc for cgo, OpenBLAS for the openblas-tagged build,
# numpy for the test that reads our safetensors files from Python, and the
# OpenCL loader, headers and PoCL (OpenCL on the CPU) for the opencl tests,
# and qemu-user to run the arm64 build of the CPU backend.
packages=(gcc libc6-dev pkg-config libopenblas-dev python3-numpy python3-torch ocl-icd-opencl-dev opencl-headers pocl-opencl-icd qemu-user)
missing=()
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	step "installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "ci/test.sh: need root to install ${missing[*]} (or install them yourself)" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Real-data tests find the datasets here (see the README, "Data").
export DIYNN_DATA="${DIYNN_DATA:-$(cd .. && pwd)/shared/data}"

step "gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

# The OpenCL 3 headers warn unless told which version we target.
export CGO_CFLAGS="${CGO_CFLAGS:+$CGO_CFLAGS }-DCL_TARGET_OPENCL_VERSION=120"

step "go vet (default, openblas, opencl; arm64 for the pure-Go GEMM and t-SNE paths)"
go vet ./...
go vet -tags openblas ./...
go vet -tags opencl ./...
GOARCH=arm64 go vet ./backend/cpu/... ./tsne/...

step "go test (default build)"
go test -count=1 ./...

step "go test with the pure-Go GEMM kernel forced (DIYNN_GEMM_KERNEL=go)"
DIYNN_GEMM_KERNEL=go go test -count=1 ./backend/cpu/... ./nn/...

step "arm64: the CPU backend, its pure-Go GEMM and t-SNE's Go loops under qemu-aarch64"
# No assembly kernel applies on arm64, so this runs the pure-Go GEMM kernel
# through the whole conformance suite, and t-SNE's Go loops (tsne/pairs.go)
# through its short tests, as an arm64 machine would (about a minute).
arm64=$(mktemp -d)
GOARCH=arm64 go test -c -o "$arm64/gemm.test" ./backend/cpu/gemm
GOARCH=arm64 go test -c -o "$arm64/cpu.test" ./backend/cpu
GOARCH=arm64 go test -c -o "$arm64/tsne.test" ./tsne
qemu-aarch64 "$arm64/gemm.test" -test.short
qemu-aarch64 "$arm64/cpu.test"
qemu-aarch64 "$arm64/tsne.test" -test.short

# The race detector where goroutines live: the CPU backend's worker pool and
# the packages that drive it, and t-SNE's parallel force loops (the
# real-data training tests run above only, as -race makes them ten times
# slower).
step "go test -race (backend, tensor, nn, tsne)"
go test -race -count=1 ./backend/... ./tensor/... ./nn/... ./tsne/...

step "go test -tags openblas"
go test -count=1 -tags openblas ./...

# The OpenCL backend on PoCL: the conformance suite, the gradient checks,
# the golden test and a training run compared with cpu. PoCL caches the
# compiled kernels (in ~/.cache/pocl), so only the first run compiles.
step "go test -tags opencl (PoCL)"
go test -count=1 -tags opencl ./backend/... ./nn/... ./train/...

# CUDA: CI has no GPU, and gorgonia.org/cu exits a process that finds no
# driver, so -tags cuda code is vetted and compiled here and run by ci/gpu.sh
# on a GPU machine. The toolkit comes from Debian's non-free component.
step "CUDA toolkit"
if ! command -v nvcc >/dev/null || ! command -v ptxas >/dev/null; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "ci/test.sh: need root to install nvidia-cuda-toolkit" >&2
		exit 1
	fi
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		sed -i -E '/^Components:/{/non-free( |$)/!s/$/ contrib non-free/}' /etc/apt/sources.list.d/debian.sources
	fi
	if [ -f /etc/apt/sources.list ]; then
		sed -i -E '/^deb .*debian/{/non-free( |$)/!s/$/ contrib non-free/}' /etc/apt/sources.list
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit >/dev/null
fi
nvcc --version | tail -n 1

step "go vet -tags cuda; compile every test binary with -tags cuda"
go vet -tags cuda ./...
cudatests=$(mktemp -d)
go test -tags cuda -c -o "$cudatests/" ./... >/dev/null
ls "$cudatests"
rm -rf "$cudatests"

step "PTX is up to date, and ptxas accepts it for sm_70 and sm_90"
fresh=$(mktemp -d)
(cd kernels && nvcc -ptx -arch=compute_70 -o "$fresh/nn.ptx" nn_cuda.cu)
if ! cmp -s "$fresh/nn.ptx" kernels/nn.ptx; then
	echo "kernels/nn.ptx is stale: run go generate ./kernels and commit it" >&2
	diff "$fresh/nn.ptx" kernels/nn.ptx | head -20 >&2
	exit 1
fi
for arch in sm_70 sm_90; do
	ptxas -arch=$arch kernels/nn.ptx -o "$fresh/nn-$arch.cubin"
	echo "ptxas $arch: ok"
done
rm -rf "$fresh"

step "all passed"
