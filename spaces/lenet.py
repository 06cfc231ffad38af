"""LeNet-5 and its variations: document 000.

A model is an optional 2-pixel zero padding (28x28 -> 32x32, the size LeNet-5 was designed for),
two valid convolutions each followed by 2x2 pooling (conv -> activation -> optional batch norm ->
pool), then two dense layers, each optionally followed by dropout, and the softmax head.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from spaces._base import Space, UnbuildableError
from spaces._params import ParamSource
from spaces._shared import ACTIVATIONS, BN_MOMENTUM, document_preset, presets

__all__ = ["LenetArch", "LenetSpace", "SPACE"]


@dataclass(frozen=True)
class LenetArch:
    pad: bool  # 000 zero-padded 28x28 to 32x32 before C1
    conv1_filters: int  # 000: 6 (C1)
    conv2_filters: int  # 000: 16 (C3)
    kernel_size: int  # 000: 5x5; 3x3 keeps more of a small image
    activation: str  # convs and dense layers; 000: tanh, proposed LeakyReLU and Swish
    pooling: str  # 000: "max" (S2, S4); the original LeNet-5 subsampled by averaging
    batch_norm: bool  # after each conv; off in 000
    dense1_units: int  # 000: 120 (C5/F5)
    dense2_units: int  # 000: 84 (F6)
    dropout: float  # after each dense layer; none in 000, which proposed adding it


@dataclass
class LenetSpace(Space[LenetArch]):
    """LeNet-5 family on any image size (Fashion-MNIST by default)."""

    name = "lenet"
    summary = "LeNet-5: two conv + pool stages, two dense layers (document 000)"

    def sample_arch(self, hp: ParamSource) -> LenetArch:
        return LenetArch(
            pad=hp.boolean("pad"),
            conv1_filters=hp.int("conv1_filters", 4, 64, log=True),
            conv2_filters=hp.int("conv2_filters", 8, 128, log=True),
            kernel_size=hp.choice("kernel_size", (3, 5)),
            activation=hp.choice("activation", ACTIVATIONS),
            pooling=hp.choice("pooling", ("max", "avg")),
            batch_norm=hp.boolean("batch_norm"),
            dense1_units=hp.int("dense1_units", 16, 512, log=True),
            dense2_units=hp.int("dense2_units", 16, 256, log=True),
            dropout=hp.float("dropout", 0.0, 0.7, step=0.05),
        )

    def build_body(
        self,
        arch: LenetArch,
        x: keras.KerasTensor,
        regularizer: keras.regularizers.Regularizer | None,
    ) -> keras.KerasTensor:
        pool_layer = (
            keras.layers.MaxPooling2D if arch.pooling == "max" else keras.layers.AveragePooling2D
        )
        if arch.pad:
            x = keras.layers.ZeroPadding2D(2)(x)
        for i, filters in enumerate((arch.conv1_filters, arch.conv2_filters), start=1):
            if min(x.shape[1:3]) < arch.kernel_size + 1:
                raise UnbuildableError(
                    f"feature map {x.shape[1]}x{x.shape[2]} is too small for a "
                    f"{arch.kernel_size}x{arch.kernel_size} conv and a 2x2 pool at conv {i}"
                )
            x = keras.layers.Conv2D(
                filters,
                arch.kernel_size,
                activation=arch.activation,
                kernel_regularizer=regularizer,
            )(x)
            if arch.batch_norm:
                x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
            x = pool_layer(2)(x)
        x = keras.layers.Flatten()(x)
        for units in (arch.dense1_units, arch.dense2_units):
            x = keras.layers.Dense(
                units, activation=arch.activation, kernel_regularizer=regularizer
            )(x)
            if arch.dropout > 0:
                x = keras.layers.Dropout(arch.dropout)(x)
        return x

    PRESETS = presets(
        document_preset(
            name="doc000_lenet5",
            source="000",
            description="pad to 32x32, Conv 6 5x5 tanh, MaxPool, Conv 16 5x5 tanh, MaxPool, Dense 120/84 tanh; Adam 1e-3, batch 128, 10 epochs",
            params={
                "pad": True, "conv1_filters": 6, "conv2_filters": 16, "kernel_size": 5,
                "activation": "tanh", "pooling": "max", "batch_norm": False,
                "dense1_units": 120, "dense2_units": 84, "dropout": 0.0,
                "optimizer": "adam", "epochs": 10, "batch_size": 128, "learning_rate": 1e-3,
            },
            param_count=61_706,
        ),
    )  # fmt: skip


SPACE = LenetSpace()
