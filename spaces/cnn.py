"""Plain CNNs with batch norm and dropout: documents 001, 002 and 003.

A model is ``n_blocks`` blocks of ``convs_per_block`` convolutions (conv -> activation -> optional
batch norm, as the documents ordered them), each block optionally pooled and followed by its own
dropout, then ``dense_layers`` dense layers and the softmax head.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from spaces._base import Space, UnbuildableError
from spaces._params import ParamSource
from spaces._shared import ACTIVATIONS, BN_MOMENTUM, document_preset, presets

__all__ = ["CnnArch", "CnnSpace", "ConvBlock", "DenseLayer", "SPACE"]


@dataclass(frozen=True)
class ConvBlock:
    filters: int  # 003 tried 8..64 (35 and 50 in its best); 001 went to 128
    pool: bool  # pool after this block (002 did not pool its last conv)
    dropout: float  # 001 used 0.2/0.3/0.4 per block, 003 kept 0.7


@dataclass(frozen=True)
class DenseLayer:
    units: int  # 001: 16, 002: 54, 003: 256; tried 64/128/256
    dropout: float  # 001: 0.5 after its dense layer


@dataclass(frozen=True)
class CnnArch:
    blocks: tuple[ConvBlock, ...]
    convs_per_block: int  # 001 stacked two convs per block
    kernel_size: int  # 3x3 everywhere; 003 also tried 5x5
    padding: str  # "same" (001) or "valid" (002, 003)
    activation: str  # conv activation: relu, tanh (001's pick), leaky relu, elu, swish
    batch_norm: bool  # after every conv (001, 003)
    pooling: str  # "max" (every document; 003: other pooling hurt) or "avg"; asked if a block pools
    dense: tuple[DenseLayer, ...]
    dense_activation: str  # asked only if there are dense layers
    dense_batch_norm: bool  # 001 normalised its dense layer too


@dataclass
class CnnSpace(Space[CnnArch]):
    """Plain CNN family on any image size (Fashion-MNIST by default)."""

    name = "cnn"
    summary = "conv blocks with batch norm and dropout, then dense layers (documents 001-003)"
    max_blocks: int = 5  # 003 tried up to 5 conv layers

    def sample_arch(self, hp: ParamSource) -> CnnArch:
        n_blocks = hp.int("n_blocks", 1, self.max_blocks)
        blocks = tuple(
            ConvBlock(
                filters=hp.int(f"filters_{i}", 8, 256, log=True),
                pool=hp.boolean(f"pool_{i}"),
                dropout=hp.float(f"dropout_{i}", 0.0, 0.7, step=0.05),
            )
            for i in range(n_blocks)
        )
        n_dense = hp.int("dense_layers", 0, 2)
        dense = tuple(
            DenseLayer(
                units=hp.int(f"dense_units_{i}", 16, 512, log=True),
                dropout=hp.float(f"dense_dropout_{i}", 0.0, 0.7, step=0.05),
            )
            for i in range(n_dense)
        )
        return CnnArch(
            blocks=blocks,
            convs_per_block=hp.int("convs_per_block", 1, 3),
            kernel_size=hp.choice("kernel_size", (3, 5)),
            padding=hp.choice("padding", ("same", "valid")),
            activation=hp.choice("activation", ACTIVATIONS),
            batch_norm=hp.boolean("batch_norm"),
            pooling=hp.choice("pooling", ("max", "avg")) if any(b.pool for b in blocks) else "max",
            dense=dense,
            dense_activation=hp.choice("dense_activation", ACTIVATIONS) if dense else "relu",
            dense_batch_norm=hp.boolean("dense_batch_norm") if dense else False,
        )

    def build_body(
        self,
        arch: CnnArch,
        x: keras.KerasTensor,
        regularizer: keras.regularizers.Regularizer | None,
    ) -> keras.KerasTensor:
        pool_layer = keras.layers.MaxPooling2D if arch.pooling == "max" else keras.layers.AveragePooling2D
        for b, block in enumerate(arch.blocks):
            for _ in range(arch.convs_per_block):
                if arch.padding == "valid" and min(x.shape[1:3]) < arch.kernel_size:
                    raise UnbuildableError(
                        f"feature map {x.shape[1]}x{x.shape[2]} is smaller than the "
                        f"{arch.kernel_size}x{arch.kernel_size} kernel at block {b}"
                    )
                x = keras.layers.Conv2D(
                    block.filters,
                    arch.kernel_size,
                    padding=arch.padding,
                    activation=arch.activation,
                    kernel_regularizer=regularizer,
                )(x)
                if arch.batch_norm:
                    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
            if block.pool:
                if min(x.shape[1:3]) < 2:
                    raise UnbuildableError(f"feature map {x.shape[1]}x{x.shape[2]} too small to pool at block {b}")
                x = pool_layer(2)(x)
            if block.dropout > 0:
                x = keras.layers.Dropout(block.dropout)(x)
        x = keras.layers.Flatten()(x)
        for layer in arch.dense:
            x = keras.layers.Dense(
                layer.units, activation=arch.dense_activation, kernel_regularizer=regularizer
            )(x)
            if arch.dense_batch_norm:
                x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
            if layer.dropout > 0:
                x = keras.layers.Dropout(layer.dropout)(x)
        return x

    PRESETS = presets(
        document_preset(
            name="doc001_cnn_tanh",
            source="001",
            description="3 blocks of 2 tanh convs + BN, dropout 0.2/0.3/0.4, Dense 16 + BN; RMSprop 1e-4, 150 epochs",
            params={
                "n_blocks": 3,
                "filters_0": 32, "pool_0": True, "dropout_0": 0.2,
                "filters_1": 64, "pool_1": True, "dropout_1": 0.3,
                "filters_2": 128, "pool_2": True, "dropout_2": 0.4,
                "dense_layers": 1, "dense_units_0": 16, "dense_dropout_0": 0.5,
                "convs_per_block": 2, "kernel_size": 3, "padding": "same", "activation": "tanh",
                "batch_norm": True, "pooling": "max", "dense_activation": "relu", "dense_batch_norm": True,
                "optimizer": "rmsprop", "epochs": 150, "batch_size": 100, "learning_rate": 1e-4,
            },
            param_count=306_906,
        ),
        document_preset(
            name="doc002_basic_cnn",
            source="002",
            description="Conv 32/64/64 relu, pools after the first two, Dense 54; softmax output (the document's sigmoid bug fixed)",
            params={
                "n_blocks": 3,
                "filters_0": 32, "pool_0": True, "dropout_0": 0.0,
                "filters_1": 64, "pool_1": True, "dropout_1": 0.0,
                "filters_2": 64, "pool_2": False, "dropout_2": 0.0,
                "dense_layers": 1, "dense_units_0": 54, "dense_dropout_0": 0.0,
                "convs_per_block": 1, "kernel_size": 3, "padding": "valid", "activation": "relu",
                "batch_norm": False, "pooling": "max", "dense_activation": "relu", "dense_batch_norm": False,
                "optimizer": "adam", "epochs": 10, "batch_size": 32, "learning_rate": 1e-3,
            },
            param_count=87_452,
        ),
        document_preset(
            name="doc003_cnn_dropout07",
            source="003",
            description="Conv 35 + BN, Conv 50 + BN (valid relu), MaxPool, Dropout 0.7, Dense 256; Adam 5e-4, batch 128, 12 epochs",
            params={
                "n_blocks": 2,
                "filters_0": 35, "pool_0": False, "dropout_0": 0.0,
                "filters_1": 50, "pool_1": True, "dropout_1": 0.7,
                "dense_layers": 1, "dense_units_0": 256, "dense_dropout_0": 0.0,
                "convs_per_block": 1, "kernel_size": 3, "padding": "valid", "activation": "relu",
                "batch_norm": True, "pooling": "max", "dense_activation": "relu", "dense_batch_norm": False,
                "optimizer": "adam", "epochs": 12, "batch_size": 128, "learning_rate": 5e-4,
            },
        ),
    )  # fmt: skip


SPACE = CnnSpace()
