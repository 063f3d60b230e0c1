#!/usr/bin/python3
"""PyTorch peer for `cmd/bench conv` and `cmd/bench epoch -model fmnist-cnn`.

    /usr/bin/python3 bench/torch_cnn.py [--spec "$(bench spec fmnist-cnn)"] [--threads 1]
        [--repeats 5] [--batch 128] [--samples 60000] [--skip-layers] [--skip-epoch]
        [--device cpu|cuda] [--graph]

Builds the network of a diynn spec (conv, batchnorm2d/1d, relu, tanh,
sigmoid, maxpool, avgpool, flatten, dropout, linear) as a torch.nn.Sequential
and prints Markdown tables with cmd/bench's columns, so that
bench/cnn_summary.py can pair the rows:

- per image layer (convolution, pooling, batch norm), on random input of the
  shape it sees in the network: milliseconds per call of the forward pass
  (autograd recording, as in training), the backward pass (gradients of the
  input and of the parameters, torch.autograd.grad with retain_graph) and,
  for convolutions, the parameter gradients alone (wgrad, what a
  first layer needs), with GFLOP/s for convolutions
  (2·N·OH·OW·OC·C·K·K forward, twice that backward, once for wgrad); each a
  median of --repeats timings of enough calls to last about 20 ms, after a
  warm-up;
- seconds per training epoch: cross-entropy, Adam (lr 1e-3), --samples random
  images held as one tensor on the device with random labels, batch --batch,
  mini-batches gathered by a fresh permutation each epoch, the loss read once
  per epoch; the median of --repeats epochs after a warm-up one. With --graph
  (CUDA only) the step is captured by torch.cuda.graph once per batch size and
  replayed (steps.py), with Adam's capturable state.

torch.set_num_threads(--threads) bounds PyTorch's own threads (convolutions
through oneDNN); OpenBLAS, which runs its linear layers' products, follows
OPENBLAS_NUM_THREADS, which ci/bench-cnn.sh sets to the same number.
"""
import argparse
import re
import statistics
import time

import torch

import steps

DEFAULT_SPEC = ("conv(1,32,3,pad=1) batchnorm2d(32) relu maxpool(2) conv(32,64,3,pad=1) batchnorm2d(64) relu maxpool(2) "
                "flatten dropout(0.25) linear(3136,128) relu dropout(0.25) linear(128,10)")


def parse_spec(spec):
    """Returns (module, label) pairs; labels are cmd/bench's (the layer's spec)."""
    mods = []
    for m in re.finditer(r"([a-z0-9]+)(?:\(([^)]*)\))?", spec):
        kind, argtext = m.group(1), m.group(2) or ""
        pos, named = [], {}
        for a in filter(None, (s.strip() for s in argtext.split(","))):
            if "=" in a:
                k, v = a.split("=", 1)
                named[k.strip()] = v.strip()
            else:
                pos.append(a)
        if kind == "conv":
            i, o, k = (int(v) for v in pos[:3])
            s, p = int(named.get("stride", 1)), int(named.get("pad", 0))
            bias = named.get("bias", "true") == "true"
            label = f"conv({i},{o},{k}" + (f",stride={s}" if s != 1 else "") + (f",pad={p}" if p else "") + \
                ("" if bias else ",bias=false") + ")"
            mods.append((torch.nn.Conv2d(i, o, k, stride=s, padding=p, bias=bias), label))
        elif kind in ("maxpool", "avgpool"):
            k = int(pos[0])
            s, p = int(named.get("stride", k)), int(named.get("pad", 0))
            label = f"{kind}({k}" + (f",stride={s}" if s != k else "") + (f",pad={p}" if p else "") + ")"
            cls = torch.nn.MaxPool2d if kind == "maxpool" else torch.nn.AvgPool2d
            mods.append((cls(k, stride=s, padding=p), label))
        elif kind in ("batchnorm2d", "batchnorm1d"):
            if set(named) - {"momentum", "eps"}:
                raise SystemExit(f"{kind}: unsupported arguments {named}")
            c = int(pos[0])
            cls = torch.nn.BatchNorm2d if kind == "batchnorm2d" else torch.nn.BatchNorm1d
            mods.append((cls(c, momentum=float(named.get("momentum", 0.1)), eps=float(named.get("eps", 1e-5))), m.group(0)))
        elif kind == "linear":
            mods.append((torch.nn.Linear(int(pos[0]), int(pos[1])), m.group(0)))
        elif kind == "dropout":
            mods.append((torch.nn.Dropout(float(pos[0])), m.group(0)))
        elif kind in ("relu", "tanh", "sigmoid", "flatten"):
            mods.append(({"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
                          "flatten": torch.nn.Flatten}[kind](), kind))
        else:
            raise SystemExit(f"torch_cnn.py: layer {m.group(0)!r} of the spec is not supported here")
    return mods


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def per_call(fn, repeats, device):
    """Median seconds of one call over repeats timings of ~20 ms each."""
    fn()
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    calls = int(min(1000, max(1, 0.02 / max(time.perf_counter() - t0, 1e-6))))

    def run():
        for _ in range(calls):
            fn()
        sync(device)

    run()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) / calls


def shape_text(s):
    return "×".join(str(d) for d in s)


def layers(mods, in_shape, batch, repeats, device):
    print("| layer | input | pass | ms | GFLOP/s |\n|---|---|---|---|---|")
    x = torch.rand(batch, *in_shape, device=device)
    for mod, label in mods:
        mod.train()
        image = isinstance(mod, (torch.nn.Conv2d, torch.nn.MaxPool2d, torch.nn.AvgPool2d, torch.nn.BatchNorm2d))
        if image:
            xi = (torch.rand(x.shape, device=device) * 2 - 1).requires_grad_(True)
            y = mod(xi)
            g = torch.rand(y.shape, device=device) * 2 - 1
            flops = 0.0
            if isinstance(mod, torch.nn.Conv2d):
                flops = 2.0 * batch * y.shape[2] * y.shape[3] * mod.out_channels * mod.in_channels * \
                    mod.kernel_size[0] * mod.kernel_size[1]
            params = list(mod.parameters())
            passes = [("forward", 1, lambda: mod(xi)),
                      ("backward", 2, lambda: torch.autograd.grad(y, [xi] + params, g, retain_graph=True))]
            if isinstance(mod, torch.nn.Conv2d):
                passes.append(("wgrad", 1, lambda: torch.autograd.grad(y, params, g, retain_graph=True)))
            for name, factor, fn in passes:
                s = per_call(fn, repeats, device)
                rate = f"{factor * flops / s / 1e9:.1f}" if flops else "-"
                print(f"| {label} | {shape_text(x.shape)} | {name} | {s * 1e3:.3f} | {rate} |", flush=True)
        with torch.no_grad():
            x = mod(x)


def epoch(mods, in_shape, samples, batch, repeats, device, graph=False):
    g = torch.Generator().manual_seed(7)
    data = torch.rand(samples, *in_shape, generator=g).to(device)
    out = mods[-1][0].out_features
    labels = torch.randint(0, out, (samples,), generator=g).to(device)
    net = torch.nn.Sequential(*(m for m, _ in mods)).to(device)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, capturable=True) if graph else torch.optim.Adam(net.parameters(), lr=1e-3)
    step = steps.make_step(net, opt, torch.nn.CrossEntropyLoss())
    run = (steps.graphed_epoch if graph else steps.eager_epoch)(step, data, labels, samples, batch)
    run()
    sync(device)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        sync(device)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--spec", default=DEFAULT_SPEC)
    p.add_argument("--name", default="fmnist-cnn", help="the model's name in the tables")
    p.add_argument("--input", default="1x28x28")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--samples", type=int, default=60000)
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-layers", action="store_true")
    p.add_argument("--skip-epoch", action="store_true")
    p.add_argument("--graph", action="store_true", help="capture the training step as a CUDA graph")
    a = p.parse_args()
    if a.graph and a.device != "cuda":
        p.error("--graph needs --device cuda")
    torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(5)
    in_shape = tuple(int(v) for v in a.input.split("x"))
    mods = parse_spec(a.spec)
    name = torch.cuda.get_device_name() if a.device == "cuda" else "cpu"
    for m, _ in mods:
        m.to(a.device)
    if not a.skip_layers:
        print(f"PyTorch {torch.__version__} on {name}: layers of {a.name}, batch {a.batch}, "
              f"milliseconds per call, median of {a.repeats}, threads {torch.get_num_threads()}\n")
        layers(mods, in_shape, a.batch, a.repeats, a.device)
        print()
    if not a.skip_epoch:
        mods = parse_spec(a.spec)  # fresh weights
        print(f"PyTorch {torch.__version__} on {name}: seconds per training epoch: {a.name}, cross-entropy, Adam, "
              f"{a.samples} samples, batch {a.batch}, median of {a.repeats}, threads {torch.get_num_threads()}\n")
        print("| backend | device | s/epoch |\n|---|---|---|")
        s = epoch(mods, in_shape, a.samples, a.batch, a.repeats, a.device, a.graph)
        print(f"| torch{' (step as torch.cuda.graph)' if a.graph else ''} | {name} | {s:.3f} |", flush=True)


if __name__ == "__main__":
    main()
