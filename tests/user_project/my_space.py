"""A user's own family: a ``Space`` subclass with one preset, the way the built-in families are written.

python -m search.run --space tests/user_project/my_space.py
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import keras

from spaces import ParamSource, Preset, Space


@dataclass(frozen=True)
class TinyArch:
    filters: int
    pool: str
    dense_units: int  # 0: no dense layer


@dataclass
class TinyCnnSpace(Space[TinyArch]):
    """One convolution, a pooling and an optional dense layer."""

    name = "tiny_cnn"
    summary = "one conv, a pooling, an optional dense layer (the user project's example)"

    PRESETS: ClassVar[Mapping[str, Preset]] = {
        "small": Preset(
            name="small",
            source="user",
            description="8 filters, max pooling, no dense layer; Adam 1e-3, batch 64, 2 epochs",
            params={
                "filters": 8, "pool": "max", "dense": False,
                "optimizer": "adam", "epochs": 2, "batch_size": 64, "learning_rate": 1e-3,
                "loss": "categorical_crossentropy", "label_smoothing_on": False,
                "weight_decay_on": False, "lr_schedule": "constant", "shift": 0.0, "hflip": False,
            },
        ),
    }  # fmt: skip

    def sample_arch(self, hp: ParamSource) -> TinyArch:
        filters = hp.int("filters", 4, 32, log=True)
        pool = hp.choice("pool", ("max", "avg"))
        dense = hp.boolean("dense")
        return TinyArch(filters, pool, hp.int("dense_units", 8, 64, log=True) if dense else 0)

    def build_body(
        self, arch: TinyArch, x: keras.KerasTensor, regularizer: object
    ) -> keras.KerasTensor:
        x = keras.layers.Conv2D(arch.filters, 3, activation="relu", kernel_regularizer=regularizer)(
            x
        )
        pool = keras.layers.MaxPooling2D if arch.pool == "max" else keras.layers.AveragePooling2D
        x = keras.layers.Flatten()(pool(2)(x))
        if arch.dense_units:
            x = keras.layers.Dense(
                arch.dense_units, activation="relu", kernel_regularizer=regularizer
            )(x)
        return x


SPACE = TinyCnnSpace()
