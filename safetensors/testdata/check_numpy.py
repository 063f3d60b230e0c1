#!/usr/bin/python3
"""Reads a safetensors file with numpy alone and compares it with expected
values: the check that files diynn writes are readable outside Go.

    /usr/bin/python3 safetensors/testdata/check_numpy.py FILE EXPECTED.json

EXPECTED.json maps each tensor name to {"shape": [...], "data": [...]}, with
"dtype": "I64" for an int64 tensor (F32 otherwise), and "__metadata__" to
the metadata. Exits 1 with a message on any difference.
"""
import json
import struct
import sys

import numpy as np

path, expected_path = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    raw = f.read()
(hlen,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + hlen])
data = raw[8 + hlen:]
expected = json.load(open(expected_path))

meta = header.pop("__metadata__", {})
if meta != expected.pop("__metadata__", {}):
    sys.exit(f"metadata {meta} != expected")
if sorted(header) != sorted(expected):
    sys.exit(f"names {sorted(header)} != {sorted(expected)}")
for name, e in header.items():
    lo, hi = e["data_offsets"]
    want_dtype = expected[name].get("dtype", "F32")
    if e["dtype"] != want_dtype:
        sys.exit(f"{name}: dtype {e['dtype']}, want {want_dtype}")
    np_dtype = {"F32": "<f4", "I64": "<i8"}[want_dtype]
    arr = np.frombuffer(data[lo:hi], dtype=np_dtype).reshape(e["shape"])
    want = np.array(expected[name]["data"], dtype=np_dtype).reshape(expected[name]["shape"])
    if arr.shape != want.shape or arr.dtype != want.dtype or not np.array_equal(arr, want):
        sys.exit(f"{name}: got {arr.shape} {arr.ravel()[:5]}, want {want.shape} {want.ravel()[:5]}")
print(f"numpy {np.__version__} read {len(header)} tensors: names, shapes and values match")
