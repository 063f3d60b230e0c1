#!/usr/bin/python3
"""Writes sklearn.json: scikit-learn's scores for fixed predictions, the
reference of metrics_test.go. Run with Debian's python3-sklearn:

    /usr/bin/python3 metrics/testdata/make_golden.py
"""
import json
import os
import random

import sklearn
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

random.seed(20261125)
cases = []
for name, n, k, p_right, never in [("balanced", 200, 4, 0.7, None), ("skewed", 97, 5, 0.5, 3), ("tiny", 3, 3, 0.0, None)]:
    labels = [random.randrange(k) for _ in range(n)]
    preds = []
    for y in labels:
        p = y if random.random() < p_right else random.randrange(k)
        if p == never:  # a class that is never predicted: precision 0 by convention
            p = (p + 1) % k
        preds.append(p)
    prec, rec, f1, sup = precision_recall_fscore_support(labels, preds, labels=list(range(k)), zero_division=0)
    mp, mr, mf, _ = precision_recall_fscore_support(labels, preds, labels=list(range(k)), average="macro", zero_division=0)
    cases.append({
        "name": name, "classes": k, "labels": labels, "predictions": preds,
        "accuracy": accuracy_score(labels, preds),
        "precision": prec.tolist(), "recall": rec.tolist(), "f1": f1.tolist(), "support": sup.tolist(),
        "macro_precision": mp, "macro_recall": mr, "macro_f1": mf,
        "confusion": confusion_matrix(labels, preds, labels=list(range(k))).tolist(),
    })
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sklearn.json")
with open(path, "w") as f:
    json.dump({"sklearn": sklearn.__version__, "cases": cases}, f)
    f.write("\n")
print("wrote", path)
