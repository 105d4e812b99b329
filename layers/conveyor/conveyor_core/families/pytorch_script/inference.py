"""Serving handlers for the PyTorch inference toolkit (SageMaker's PyTorch and Neo images).

CSV in (one row of raw features per line), CSV out (one prediction per line, or the class
probabilities of a row comma-separated), as the XGBoost family answers. A Neo-compiled model is
loaded by Neo's image; an uncompiled one is the TorchScript ``model.pth``. Runs on the GPU when
the instance has one.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_fn(model_dir: str) -> Any:
    return torch.jit.load(str(Path(model_dir) / "model.pth"), map_location=DEVICE).eval()


def input_fn(body: Any, content_type: str) -> torch.Tensor:
    if content_type != "text/csv":
        raise ValueError(f"this model takes text/csv, not {content_type}")
    text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else str(body)
    rows = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float32, ndmin=2)
    return torch.from_numpy(rows)


def predict_fn(rows: torch.Tensor, model: Any) -> torch.Tensor:
    with torch.inference_mode():
        return model(rows.to(DEVICE)).cpu()


def output_fn(predictions: torch.Tensor, accept: str) -> str:
    values = predictions.numpy()
    if values.ndim == 1:
        return "\n".join(f"{value:.9g}" for value in values)
    return "\n".join(",".join(f"{value:.9g}" for value in row) for row in values)
