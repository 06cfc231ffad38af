"""The plain CNN family on CIFAR-10: document 004.

Same knobs, ranges and builder as :mod:`spaces.cnn`; only the default data set (32x32 RGB) and
the presets differ. Document 004 ended with logits and sparse cross-entropy from logits; the
platform's softmax head with categorical cross-entropy on one-hot labels is the same model and loss.
"""

from __future__ import annotations

from dataclasses import dataclass

from spaces._shared import document_preset, presets
from spaces.cnn import CnnSpace

__all__ = ["CifarCnnSpace", "SPACE"]


@dataclass
class CifarCnnSpace(CnnSpace):
    """Plain CNN family, CIFAR-10 by default (004 also tried Dense 128, 7 and 15 epochs)."""

    name = "cifar_cnn"
    summary = "conv blocks then dense layers on CIFAR-10 (document 004)"
    default_dataset = "cifar10"

    PRESETS = presets(
        document_preset(
            name="doc004_cifar_cnn",
            source="004",
            description="Conv 32/64/64 3x3 relu, pools after the first two, Dense 64; Adam 1e-3, batch 32, 10 epochs",
            params={
                "n_blocks": 3,
                "filters_0": 32, "pool_0": True, "dropout_0": 0.0,
                "filters_1": 64, "pool_1": True, "dropout_1": 0.0,
                "filters_2": 64, "pool_2": False, "dropout_2": 0.0,
                "dense_layers": 1, "dense_units_0": 64, "dense_dropout_0": 0.0,
                "convs_per_block": 1, "kernel_size": 3, "padding": "valid", "activation": "relu",
                "batch_norm": False, "pooling": "max", "dense_activation": "relu", "dense_batch_norm": False,
                "optimizer": "adam", "epochs": 10, "batch_size": 32, "learning_rate": 1e-3,
            },
            param_count=122_570,
            dataset="cifar10",
        ),
    )  # fmt: skip


SPACE = CifarCnnSpace()
