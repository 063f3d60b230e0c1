#!/usr/bin/python3
"""Writes golden.json: a reference for nn's golden test, computed by PyTorch.

Run with Debian's python3-torch:  /usr/bin/python3 nn/nntest/testdata/golden.py

A 5-7-6-3 network (Linear, Tanh, Linear, ReLU, Linear) with cross-entropy on
a batch of 4, computed in float64 so that the file holds the exact answer:
the forward output, the loss, every parameter gradient, and the parameters
after 3 steps of each optimizer on the same batch, starting from the same
weights. Weights and inputs are rounded to float32 first, so that the Go
side starts from identical values.
"""
import json
import os

import torch

torch.manual_seed(20261125)
sizes = [5, 7, 6, 3]
batch = 4


def f32(t):
    return t.float().double()


def build():
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(torch.nn.Linear(a, b).double())
        if i == 0:
            layers.append(torch.nn.Tanh())
        elif i == 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


net = build()
with torch.no_grad():
    for p in net.parameters():
        p.copy_(f32(p))
init = {n: p.detach().clone() for n, p in net.named_parameters()}
x = f32(torch.randn(batch, sizes[0]))
labels = torch.tensor([0, 2, 1, 2])
loss_fn = torch.nn.CrossEntropyLoss()


def flat(t):
    return t.detach().reshape(-1).tolist()


out = net(x)
loss = loss_fn(out, labels)
loss.backward()
golden = {
    "sizes": sizes,
    "x": flat(x),
    "labels": labels.tolist(),
    "params": {n: flat(p) for n, p in init.items()},
    "output": flat(out),
    "loss": loss.item(),
    "grads": {n: flat(p.grad) for n, p in net.named_parameters()},
    "steps": {},
}

optimizers = {
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.01),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
}
for name, make in optimizers.items():
    with torch.no_grad():
        for n, p in net.named_parameters():
            p.copy_(init[n])
    opt = make(net.parameters())
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = loss_fn(net(x), labels)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    golden["steps"][name] = {
        "losses": losses,
        "params": {n: flat(p) for n, p in net.named_parameters()},
    }

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
with open(path, "w") as f:
    json.dump(golden, f, indent=1)
    f.write("\n")
print("wrote", path, "with torch", torch.__version__)
