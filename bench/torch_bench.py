#!/usr/bin/python3
"""PyTorch peer for cmd/bench: the same GEMM shapes and training epoch.

    /usr/bin/python3 bench/torch_bench.py [--threads 1,2] [--repeats 5] [--device cpu|cuda] [--graph]

Prints Markdown tables like cmd/bench's: GEMM GFLOP/s (fp32, TF32 off) and
seconds per epoch of the 784-176-42-10 classifier (tanh, relu), cross-entropy,
SGD (lr 0.001, momentum 0.9), 60000 synthetic samples held as one tensor on the
device, batch 128, mini-batches gathered by a random permutation each epoch,
the loss read once per epoch. Medians of the repeats after one warm-up.

With --graph (CUDA only) the epoch is timed a second time with the training
step (zero_grad, forward, loss, backward, SGD step) captured by
torch.cuda.graph, once per batch shape (full batches, and the short last
one), and replayed after gathering each batch into the graph's static
inputs (steps.py): the honest best PyTorch can do for so small a network,
launch-bound as it is (issue 17).
"""
import argparse
import statistics
import time

import torch

import steps


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, repeats, device):
    fn()
    sync(device)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def gemm(shapes, repeats, device):
    rows = []
    for m, n, k in shapes:
        a = torch.rand(m, k, device=device) * 2 - 1
        b = torch.rand(k, n, device=device) * 2 - 1
        c = torch.empty(m, n, device=device)
        flops = 2.0 * m * n * k
        calls = max(1, int(2e8 / flops)) if device == "cpu" else max(10, int(2e10 / flops))

        def run():
            for _ in range(calls):
                torch.matmul(a, b, out=c)

        d = timed(run, repeats, device)
        rows.append((m, n, k, flops * calls / d / 1e9))
    return rows


def epoch(samples, batch, repeats, device, graph=False):
    g = torch.Generator().manual_seed(7)
    data = torch.rand(samples, 784, generator=g).to(device)
    labels = torch.randint(0, 10, (samples,), generator=g).to(device)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 176), torch.nn.Tanh(),
        torch.nn.Linear(176, 42), torch.nn.ReLU(),
        torch.nn.Linear(42, 10)).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    step = steps.make_step(net, opt, torch.nn.CrossEntropyLoss())
    run = (steps.graphed_epoch if graph else steps.eager_epoch)(step, data, labels, samples, batch)
    return timed(run, repeats, device)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--shapes", default="128x176x784,128x784x176,784x176x128,1024x1024x1024")
    p.add_argument("--samples", type=int, default=60000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--skip-gemm", action="store_true")
    p.add_argument("--graph", action="store_true", help="also time the epoch with the step as a CUDA graph")
    a = p.parse_args()
    if a.graph and a.device != "cuda":
        p.error("--graph needs --device cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    shapes = [tuple(int(v) for v in s.split("x")) for s in a.shapes.split(",")]
    name = torch.cuda.get_device_name() if a.device == "cuda" else "cpu"
    print(f"PyTorch {torch.__version__} on {name}, median of {a.repeats}\n")
    print("| threads | what | value |\n|---|---|---|")
    for threads in [int(t) for t in a.threads.split(",")]:
        torch.set_num_threads(threads)
        if not a.skip_gemm:
            for m, n, k, gf in gemm(shapes, a.repeats, a.device):
                print(f"| {threads} | GEMM {m}×{n}×{k} GFLOP/s | {gf:.1f} |", flush=True)
        s = epoch(a.samples, a.batch, a.repeats, a.device)
        print(f"| {threads} | epoch s ({a.samples} samples, batch {a.batch}) | {s:.3f} |", flush=True)
        if a.graph:
            s = epoch(a.samples, a.batch, a.repeats, a.device, graph=True)
            print(f"| {threads} | epoch s, step as torch.cuda.graph ({a.samples} samples, batch {a.batch}) | {s:.3f} |", flush=True)


if __name__ == "__main__":
    main()
