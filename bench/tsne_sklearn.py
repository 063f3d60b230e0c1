#!/usr/bin/python3
"""scikit-learn's t-SNE as the peer of `diynn tsne` (docs/BENCHMARKS.md).

    /usr/bin/python3 bench/tsne_sklearn.py DATA_DIR OUT.csv [--repeats 1]

Reduces the 10k Fashion-MNIST test images to 50 dimensions with PCA, writes
them to OUT.csv (50 columns and a label column) for `diynn tsne -in OUT.csv`,
then runs scikit-learn's Barnes-Hut TSNE with the same settings as diynn's
defaults (2-D, perplexity 30, 1000 iterations, early exaggeration 12 for 250
iterations, learning rate 200, random init, angle 0.5) and prints its time
and final KL divergence.
"""
import argparse
import os
import time

import numpy as np
import sklearn
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from idx import idx


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data_dir")
    p.add_argument("out_csv")
    p.add_argument("--repeats", type=int, default=1)
    a = p.parse_args()
    d = os.path.join(a.data_dir, "fashion-mnist")
    x = idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / 255
    y = idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    z = PCA(n_components=50, random_state=0).fit_transform(x).astype(np.float32)
    with open(a.out_csv, "w") as f:
        f.write(",".join(f"pc{i}" for i in range(50)) + ",label\n")
        for row, label in zip(z, y):
            f.write(",".join(repr(float(v)) for v in row) + f",{label}\n")
    for r in range(a.repeats):
        t0 = time.perf_counter()
        tsne = TSNE(n_components=2, perplexity=30.0, n_iter=1000, early_exaggeration=12.0, learning_rate=200.0,
                    init="random", method="barnes_hut", angle=0.5, random_state=r)
        tsne.fit_transform(z)
        dt = time.perf_counter() - t0
        print(f"scikit-learn {sklearn.__version__} TSNE on {len(z)} points: {dt:.1f}s, KL divergence {tsne.kl_divergence_:.4f}", flush=True)


if __name__ == "__main__":
    main()
