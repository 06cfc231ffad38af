"""Small residual nets: documents 000 and 003.

A model is a stem (conv -> batch norm -> activation -> optional 2x2 max pool), then ``stages``
stages of residual blocks whose width doubles per stage from ``base_filters``, then global average
pooling, an optional dense layer and dropout before the softmax head.

Blocks are *basic* (3x3 conv -> BN -> act -> 3x3 conv -> BN, add, act; 000's simplified ResNet)
or *bottleneck* (1x1 -> 3x3 -> 1x1 at 4x the width; 000's ResNet-50-like net). Every later stage
halves the feature map and widens it, either inside its first block (stride 2 and a 1x1 projection
on the shortcut, He et al.'s "convolutional block" that 003 programmed) or by a standalone 1x1
stride-2 conv before the stage (000's ResNet-50 tutorial). A block whose input width differs from
its output gets a 1x1 projection shortcut. Convs keep their bias and projections have no batch norm,
as in 000's printed summaries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import keras

from spaces._base import Space, UnbuildableError
from spaces._params import ParamSource
from spaces._shared import ACTIVATIONS, BN_MOMENTUM, document_preset, presets

__all__ = ["ResnetArch", "ResnetSpace", "SPACE", "Stage"]

_Conv = Callable[..., keras.layers.Conv2D]


@dataclass(frozen=True)
class Stage:
    filters: int  # block width (bottleneck blocks output 4x); 000: 64 / 64-128-256-512
    blocks: int  # 000: 3 (simplified), 2/2/3/2 (ResNet-50-like, cut down from 3/4/6/3)


@dataclass(frozen=True)
class ResnetArch:
    stem_filters: int  # 000: 64
    stem_kernel: int  # 000: 7x7; 3x3 suits 28x28 inputs
    stem_stride: int  # 000: 2
    stem_pool: bool  # 000: max pool after the stem
    stages: tuple[Stage, ...]  # 000: one stage (simplified) or four (ResNet-50-like)
    block: str  # "basic" (000 simplified) or "bottleneck" (000 ResNet-50-like)
    transition: str | None  # "shortcut" (003) or "conv" (000 ResNet-50-like); None with one stage
    activation: str  # 000: relu; it proposed LeakyReLU and Swish
    dense_units: int  # dense layer before the head, 0 = none; 000 ResNet-50-like: 1000
    dropout: float  # before the head; 000 proposed it, 003 tried it and dropped it


_STEM_000 = {"stem_filters": 64, "stem_kernel": 7, "stem_stride": 2, "stem_pool": True}


@dataclass
class ResnetSpace(Space[ResnetArch]):
    """Residual family on any image size (Fashion-MNIST by default)."""

    name = "resnet"
    summary = "small ResNets: a stem, stages of basic or bottleneck blocks (documents 000, 003)"
    max_stages: int = 4  # 000's ResNet-50-like net: stages of 64/128/256/512

    def sample_arch(self, hp: ParamSource) -> ResnetArch:
        stem_filters = hp.int("stem_filters", 16, 128, log=True)
        stem_kernel = hp.choice("stem_kernel", (3, 7))
        stem_stride = hp.choice("stem_stride", (1, 2))
        stem_pool = hp.boolean("stem_pool")
        n_stages = hp.int("stages", 1, self.max_stages)
        base = hp.int("base_filters", 16, 64, log=True)
        stages = tuple(
            Stage(filters=base * 2**i, blocks=hp.int(f"blocks_{i}", 1, 4)) for i in range(n_stages)
        )
        block = hp.choice("block", ("basic", "bottleneck"))
        transition = hp.choice("transition", ("shortcut", "conv")) if n_stages > 1 else None
        activation = hp.choice("activation", ACTIVATIONS)
        dense = hp.boolean("dense_layer")
        return ResnetArch(
            stem_filters=stem_filters,
            stem_kernel=stem_kernel,
            stem_stride=stem_stride,
            stem_pool=stem_pool,
            stages=stages,
            block=block,
            transition=transition,
            activation=activation,
            dense_units=hp.int("dense_units", 64, 1024, log=True) if dense else 0,
            dropout=hp.float("dropout", 0.0, 0.7, step=0.05),
        )

    def build_body(
        self,
        arch: ResnetArch,
        x: keras.KerasTensor,
        regularizer: keras.regularizers.Regularizer | None,
    ) -> keras.KerasTensor:
        conv: _Conv = partial(keras.layers.Conv2D, padding="same", kernel_regularizer=regularizer)
        expansion = 4 if arch.block == "bottleneck" else 1
        if arch.stem_stride == 2:
            _check_halvable(x, "the stem")
        x = conv(arch.stem_filters, arch.stem_kernel, strides=arch.stem_stride)(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = keras.layers.Activation(arch.activation)(x)
        if arch.stem_pool:
            _check_halvable(x, "the stem max pool")
            x = keras.layers.MaxPooling2D(2, padding="same")(x)
        for s, stage in enumerate(arch.stages):
            stride = 1
            if s > 0:
                _check_halvable(x, f"stage {s}")
                if arch.transition == "conv":
                    x = conv(stage.filters * expansion, 1, strides=2)(x)
                else:
                    stride = 2
            for b in range(stage.blocks):
                x = _residual_block(arch, x, stage.filters, stride if b == 0 else 1, conv)
        x = keras.layers.GlobalAveragePooling2D()(x)
        if arch.dense_units:
            x = keras.layers.Dense(
                arch.dense_units, activation=arch.activation, kernel_regularizer=regularizer
            )(x)
        if arch.dropout > 0:
            x = keras.layers.Dropout(arch.dropout)(x)
        return x

    PRESETS = presets(
        document_preset(
            name="doc000_simplified_resnet",
            source="000",
            description="Conv 64 7x7/2, BN, ReLU, MaxPool, 3 basic blocks of 64, global average pool; Adam 1e-3, batch 64, 10 epochs",
            params={
                **_STEM_000, "stages": 1, "base_filters": 64, "blocks_0": 3, "block": "basic",
                "activation": "relu", "dense_layer": False, "dropout": 0.0,
                "optimizer": "adam", "epochs": 10, "batch_size": 64, "learning_rate": 1e-3,
            },
        ),  # the document prints no total; the layers it lists add up to 227,210 with the head
        document_preset(
            name="doc000_resnet50_like",
            source="000",
            description="ResNet-50 cut to 2/2/3/2 bottleneck blocks of 64/128/256/512, 1x1 conv between stages, Dense 1000; batch 64, 10 epochs (Adam 1e-3 assumed)",
            params={
                **_STEM_000, "stages": 4, "base_filters": 64,
                "blocks_0": 2, "blocks_1": 2, "blocks_2": 3, "blocks_3": 2,
                "block": "bottleneck", "transition": "conv", "activation": "relu",
                "dense_layer": True, "dense_units": 1000, "dropout": 0.0,
                "optimizer": "adam", "epochs": 10, "batch_size": 64, "learning_rate": 1e-3,
            },
            param_count=17_839_746,
        ),
    )  # fmt: skip


def _check_halvable(x: keras.KerasTensor, where: str) -> None:
    """Raise UnbuildableError if the feature map of ``x`` is already 1x1 and cannot be halved."""
    if min(x.shape[1:3]) < 2:
        raise UnbuildableError(f"feature map {x.shape[1]}x{x.shape[2]} cannot be halved again at {where}")


def _residual_block(
    arch: ResnetArch, x: keras.KerasTensor, filters: int, stride: int, conv: _Conv
) -> keras.KerasTensor:
    """One basic or bottleneck block of width ``filters``, the first conv striding by ``stride``."""
    out = filters * (4 if arch.block == "bottleneck" else 1)
    shortcut = x
    if stride != 1 or x.shape[-1] != out:
        shortcut = conv(out, 1, strides=stride)(x)
    if arch.block == "basic":
        layers = [(filters, 3, stride), (filters, 3, 1)]
    else:
        layers = [(filters, 1, 1), (filters, 3, stride), (out, 1, 1)]
    y = x
    for i, (width, kernel, strides) in enumerate(layers):
        y = conv(width, kernel, strides=strides)(y)
        y = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(y)
        if i < len(layers) - 1:
            y = keras.layers.Activation(arch.activation)(y)
    y = keras.layers.Add()([y, shortcut])
    return keras.layers.Activation(arch.activation)(y)


SPACE = ResnetSpace()
