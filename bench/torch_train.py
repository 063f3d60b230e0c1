#!/usr/bin/python3
"""PyTorch peer of `diynn train -data fashion-mnist -model fmnist-relu`:
the same network, optimizer (Adam, lr 1e-3, cosine schedule), batch 128 and
per-epoch evaluation on the test split, on the real Fashion-MNIST files.

    /usr/bin/python3 bench/torch_train.py DATA_DIR [--epochs 3] [--threads 1]

Prints seconds per epoch (training plus test evaluation, as diynn's
history.csv records them), the final test accuracy, and the peak resident
memory of the process (ru_maxrss), for docs/BENCHMARKS.md.
"""
import argparse
import math
import os
import resource
import time

import numpy as np
import torch

from idx import idx


def load(d, split):
    x = idx(os.path.join(d, f"{split}-images-idx3-ubyte.gz")).reshape(-1, 784)
    y = idx(os.path.join(d, f"{split}-labels-idx1-ubyte.gz"))
    return torch.from_numpy(x.astype(np.float32) / 255), torch.from_numpy(y.astype(np.int64))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data_dir")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    dev = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    d = os.path.join(a.data_dir, "fashion-mnist")
    xtr, ytr = (t.to(dev) for t in load(d, "train"))
    xte, yte = (t.to(dev) for t in load(d, "t10k"))
    net = torch.nn.Sequential(torch.nn.Linear(784, 176), torch.nn.Tanh(), torch.nn.Linear(176, 42), torch.nn.ReLU(),
                              torch.nn.Linear(42, 10)).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda e: 0.01 + 0.99 * (1 + math.cos(math.pi * e / a.epochs)) / 2)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(xtr), device=dev)
        for off in range(0, len(xtr), 128):
            i = order[off:off + 128]
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(net(xtr[i]), ytr[i])
            loss.backward()
            opt.step()
        sched.step()
        with torch.no_grad():
            acc = sum((net(xte[o:o + 1000]).argmax(1) == yte[o:o + 1000]).sum().item() for o in range(0, len(xte), 1000)) / len(xte)
        if a.device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        print(f"epoch {epoch + 1}: {times[-1]:.3f}s test accuracy {acc:.4f}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__} on {a.device}, {a.threads} thread(s): median epoch {sorted(times)[len(times) // 2]:.3f}s, "
          f"test accuracy {acc:.4f}, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
