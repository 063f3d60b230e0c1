#!/usr/bin/python3
"""scikit-learn's t-SNE as the peer of `diynn tsne` (docs/BENCHMARKS.md).

    /usr/bin/python3 bench/tsne_sklearn.py DATA_DIR OUT.csv [--n 10000] [--repeats 1]
        [--lr auto|200] [--seed 0] [--raw RAW.csv]

Takes the first N of Fashion-MNIST's 70 000 images, the 10 000 test images
first and then the 60 000 training ones (so --n 10000 is the test set),
reduces them to 50 dimensions with PCA, writes them to OUT.csv (50 columns
and a label column) for `diynn tsne -in OUT.csv`, and with --raw the raw
pixels (784 columns in [0, 1] and the label) for `diynn tsne -pca 50`.
Then runs scikit-learn's Barnes-Hut TSNE --repeats times with diynn's
settings (2-D, perplexity 30, 1000 iterations, early exaggeration 12 for
250 iterations, random init, angle 0.5, the learning rate of --lr: auto
is max(N / 12 / 4, 50) in both) and prints its time, KL divergence,
trustworthiness (k = 10, on a 10 000-point subset as diynn measures it,
when N is larger) and leave-one-out 10-NN accuracy in the map.

Needs python3-sklearn (Debian: apt-get install python3-sklearn; 1.2 or
later, for learning_rate="auto").
"""
import argparse
import os
import time

import numpy as np
import sklearn
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness
from sklearn.neighbors import KNeighborsClassifier

from idx import idx


def load(data_dir, n):
    d = os.path.join(data_dir, "fashion-mnist")
    xs, ys = [], []
    for split in ("t10k", "train"):
        xs.append(idx(os.path.join(d, f"{split}-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / 255)
        ys.append(idx(os.path.join(d, f"{split}-labels-idx1-ubyte.gz")))
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def write_csv(path, x, y, prefix):
    with open(path, "w") as f:
        f.write(",".join(f"{prefix}{i}" for i in range(x.shape[1])) + ",label\n")
        fmt = "%.7g" if prefix == "pc" else "%.6g"
        for row, label in zip(x, y):
            f.write(",".join(fmt % v for v in row) + f",{label}\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data_dir")
    p.add_argument("out_csv")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--lr", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--raw", default="")
    a = p.parse_args()
    x, y = load(a.data_dir, a.n)
    z = PCA(n_components=50, random_state=0).fit_transform(x).astype(np.float32)
    if not os.path.exists(a.out_csv):
        write_csv(a.out_csv, z, y, "pc")
    if a.raw and not os.path.exists(a.raw):
        write_csv(a.raw, x, y, "px")
    lr = "auto" if a.lr == "auto" else float(a.lr)
    for r in range(a.repeats):
        t0 = time.perf_counter()
        tsne = TSNE(n_components=2, perplexity=30.0, n_iter=1000, early_exaggeration=12.0, learning_rate=lr,
                    init="random", method="barnes_hut", angle=0.5, random_state=a.seed + r)
        emb = tsne.fit_transform(z)
        dt = time.perf_counter() - t0
        rng = np.random.default_rng(a.seed + r)
        sub = np.sort(rng.permutation(len(z))[:10000]) if len(z) > 10000 else np.arange(len(z))
        tr = trustworthiness(z[sub], emb[sub], n_neighbors=10)
        knn = KNeighborsClassifier(n_neighbors=11).fit(emb, y)  # 11: each point finds itself first
        ind = knn.kneighbors(emb, return_distance=False)[:, 1:]
        acc = np.mean([np.argmax(np.bincount(y[i], minlength=10)) == y[k] for k, i in enumerate(ind)])
        print(f"scikit-learn {sklearn.__version__} TSNE on {len(z)} points: {dt:.1f}s, KL divergence {tsne.kl_divergence_:.4f}, "
              f"trustworthiness {tr:.4f}, 10-NN accuracy {acc:.4f}, learning rate {tsne.learning_rate_:.4g}", flush=True)


if __name__ == "__main__":
    main()
