"""Counting a model's cost without training it."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["multiply_adds"]


def multiply_adds(model: Any) -> int:
    """About how many multiply-adds ``model`` does per image: each layer's kernel once per output
    position (a convolution's height x width, a dense layer's one, a recurrent layer's time steps
    when it returns them). A measure of training cost that needs no training."""
    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested model
            total += multiply_adds(layer)
            continue
        kernels = [w for w in layer.weights if "kernel" in w.path]
        if not kernels:
            continue
        shape = layer.output.shape if hasattr(layer, "output") else (None, 1)
        positions = 1
        for dim in shape[1:-1]:
            positions *= int(dim or 1)
        total += positions * sum(int(np.prod(w.shape)) for w in kernels)
    return total
