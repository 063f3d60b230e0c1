#!/usr/bin/python3
"""PyTorch's side of the model round trip (model/torch_test.go): weights of a
small CNN go from PyTorch to diynn and from diynn to PyTorch, and both give
the same logits.

    /usr/bin/python3 model/testdata/torch_roundtrip.py export DIR
    /usr/bin/python3 model/testdata/torch_roundtrip.py import MODEL INPUT OUT

export builds the network below, moves its batch-norm running statistics with
a few training-mode forward passes, switches it to evaluation mode and writes,
in DIR, torch.safetensors (its state_dict: "0.weight", "1.running_mean",
"1.num_batches_tracked" as a 0-dimensional int64, ... and no metadata),
input.safetensors ("x", a batch of images), logits.safetensors ("y", its
evaluation-mode output for x) and spec.txt (the network as a diynn spec).

import loads MODEL, a model file diynn wrote, into the same nn.Sequential with
load_state_dict(strict=True), so that a missing, extra or misshapen tensor is
an error, and writes its evaluation-mode logits for INPUT's "x" to OUT ("y").

The safetensors format is written and read here by hand with numpy, so that
the script needs only Debian's python3-torch (and python3-numpy).
"""
import json
import struct
import sys

import numpy as np
import torch
from torch import nn

# The diynn spec of the network, for 1×10×10 images; model/torch_test.go
# builds the same one.
SPEC = ("conv(1,4,3,pad=1) batchnorm2d(4) relu maxpool(2) conv(4,6,3,stride=2,bias=false) "
        "batchnorm2d(6,momentum=0.2) relu avgpool(2,stride=1) flatten linear(6,8) batchnorm1d(8) relu linear(8,5)")
IMAGE = (1, 10, 10)


def network():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),  # 0: 4×10×10
        nn.BatchNorm2d(4),  # 1
        nn.ReLU(),  # 2
        nn.MaxPool2d(2),  # 3: 4×5×5
        nn.Conv2d(4, 6, 3, stride=2, bias=False),  # 4: 6×2×2
        nn.BatchNorm2d(6, momentum=0.2),  # 5
        nn.ReLU(),  # 6
        nn.AvgPool2d(2, stride=1),  # 7: 6×1×1
        nn.Flatten(),  # 8: 6
        nn.Linear(6, 8),  # 9
        nn.BatchNorm1d(8),  # 10
        nn.ReLU(),  # 11
        nn.Linear(8, 5),  # 12
    )


DTYPES = {"F32": (np.float32, "<f4"), "I64": (np.int64, "<i8")}


def save(path, tensors):
    """Writes a dict of name -> torch tensor (float32 or int64) as safetensors."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu()
        if t.dtype == torch.float32:
            dtype, raw = "F32", t.numpy().astype("<f4").tobytes()
        elif t.dtype == torch.int64:
            dtype, raw = "I64", t.numpy().astype("<i8").tobytes()
        else:
            sys.exit(f"{name}: dtype {t.dtype} is not float32 or int64")
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    js = json.dumps(header).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for c in chunks:
            f.write(c)


def load(path):
    """Reads a safetensors file into a dict of name -> torch tensor."""
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    data = raw[8 + hlen:]
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        if e["dtype"] not in DTYPES:
            sys.exit(f"{name}: dtype {e['dtype']}")
        np_type, code = DTYPES[e["dtype"]]
        lo, hi = e["data_offsets"]
        arr = np.frombuffer(data[lo:hi], dtype=code).astype(np_type).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def export(out_dir):
    torch.manual_seed(14)
    net = network()
    net.train()
    with torch.no_grad():
        for _ in range(3):  # running statistics move; num_batches_tracked counts 3
            net(torch.randn(16, *IMAGE) * 2 + 0.5)
        # Make the affine parameters of batch norm something other than 1 and 0.
        for m in net:
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    net.eval()
    x = torch.rand(7, *IMAGE)
    with torch.no_grad():
        y = net(x)
    state = net.state_dict()
    for name, t in state.items():
        if name.endswith("num_batches_tracked") and (t.dtype != torch.int64 or t.dim() != 0 or int(t) != 3):
            sys.exit(f"{name}: {t!r}, want a 0-dimensional int64 of 3")
    save(f"{out_dir}/torch.safetensors", dict(state))
    save(f"{out_dir}/input.safetensors", {"x": x})
    save(f"{out_dir}/logits.safetensors", {"y": y})
    with open(f"{out_dir}/spec.txt", "w") as f:
        f.write(SPEC + "\n")
    print(f"torch {torch.__version__}: wrote {len(state)} tensors of {type(net).__name__}, logits {tuple(y.shape)}")


def import_(model_path, input_path, out_path):
    net = network()
    state = load(model_path)
    net.load_state_dict(state, strict=True)  # raises on a missing, extra or misshapen tensor
    for name, t in net.state_dict().items():
        if name.endswith("num_batches_tracked") and t.dtype != torch.int64:
            sys.exit(f"{name}: dtype {t.dtype} after loading, want int64")
    net.eval()
    with torch.no_grad():
        y = net(load(input_path)["x"])
    save(out_path, {"y": y})
    print(f"torch {torch.__version__}: loaded {len(state)} tensors strictly, logits {tuple(y.shape)}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "export":
        export(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "import":
        import_(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
