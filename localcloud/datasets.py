"""Real sample datasets in the built-in XGBoost CSV contract (label first, no header).

They come from scikit-learn's bundled datasets, so the demo and the tests train on real data
without any download.
"""

from __future__ import annotations

import numpy as np


def _to_csv(features: np.ndarray, labels: np.ndarray) -> bytes:
    lines = [
        ",".join([str(int(label)), *(f"{value:.6g}" for value in row)])
        for row, label in zip(features, labels, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def breast_cancer_csv(rows: int | None = None, label_noise: float = 0.0, seed: int = 0) -> bytes:
    """The Wisconsin breast cancer dataset (569 rows, 30 features, binary).

    ``label_noise`` flips that fraction of labels: a worse dataset for the quality gate to reject.
    """
    from sklearn.datasets import load_breast_cancer

    features, labels = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))[: rows or len(labels)]
    features, labels = features[order], labels[order].copy()
    if label_noise:
        flip = rng.random(len(labels)) < label_noise
        labels[flip] = 1 - labels[flip]
    return _to_csv(features, labels)


def feature_rows_csv(rows: int = 5, seed: int = 1) -> bytes:
    """Feature-only rows (no label) for InvokeEndpoint, from the same dataset."""
    from sklearn.datasets import load_breast_cancer

    features, _ = load_breast_cancer(return_X_y=True)
    picked = np.random.default_rng(seed).choice(len(features), rows, replace=False)
    return ("\n".join(",".join(f"{v:.6g}" for v in features[i]) for i in picked) + "\n").encode()
