"""The IDX file reader that the Python peers of diynn's benchmarks share
(MNIST-family files, gzip-compressed); scripts in bench/ import it."""
import gzip

import numpy as np


def idx(path):
    """Returns the array stored in the gzip-compressed IDX file at path."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)
