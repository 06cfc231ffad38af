"""Recurrent nets over image rows: document 001.

An ``H x W x C`` image is read as a sequence of ``H`` rows of ``W * C`` values. A model is
``rnn_layers`` recurrent layers (SimpleRNN, LSTM or GRU, optionally bidirectional; every layer but
the last returns the whole sequence), optional batch norm on the last state, then
``dense_layers`` relu dense layers each with its own dropout, and the softmax head.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from spaces._base import Space
from spaces._params import ParamSource
from spaces._shared import BN_MOMENTUM, document_preset, presets

__all__ = ["DenseLayer", "RnnArch", "RnnSpace", "SPACE"]

_CELLS: dict[str, type[keras.layers.Layer]] = {
    "simple": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}


@dataclass(frozen=True)
class DenseLayer:
    units: int  # 001's bidirectional LSTM: 256 then 128
    dropout: float  # 001: 0.3 after each


@dataclass(frozen=True)
class RnnArch:
    cell: str  # "simple" (001's pick), "lstm" (worse in its stack, used bidirectionally) or "gru"
    units: tuple[int, ...]  # per layer; 001: 256/128/64 (SimpleRNN), 256/128 (LSTM); more layers hurt
    bidirectional: bool  # 001's LSTM read the rows both ways
    activation: str  # cell output: relu (001's SimpleRNN) or tanh (its LSTM, Keras' default)
    batch_norm: bool  # on the last recurrent output; 001's SimpleRNN had it
    dense: tuple[DenseLayer, ...]  # 001's LSTM: Dense 256 and 128, dropout 0.3 each


@dataclass
class RnnSpace(Space[RnnArch]):
    """Recurrent family: image rows as time steps (Fashion-MNIST by default).

    The default training ranges already hold what 001 tried: learning rates 0.001, 0.01 and 0.1,
    up to 50 epochs (accuracy collapsed after epoch 40), SGD, Adam and RMSprop.
    """

    name = "rnn"
    summary = "SimpleRNN/LSTM/GRU over image rows, optionally bidirectional, dense layers (document 001)"
    max_layers: int = 3  # 001 stacked up to 3 recurrent layers

    def sample_arch(self, hp: ParamSource) -> RnnArch:
        cell = hp.choice("cell", tuple(_CELLS))
        n_layers = hp.int("rnn_layers", 1, self.max_layers)
        units = tuple(hp.int(f"units_{i}", 16, 512, log=True) for i in range(n_layers))
        n_dense = hp.int("dense_layers", 0, 2)
        dense = tuple(
            DenseLayer(
                units=hp.int(f"dense_units_{i}", 16, 512, log=True),
                dropout=hp.float(f"dense_dropout_{i}", 0.0, 0.7, step=0.05),
            )
            for i in range(n_dense)
        )
        return RnnArch(
            cell=cell,
            units=units,
            bidirectional=hp.boolean("bidirectional"),
            activation=hp.choice("rnn_activation", ("relu", "tanh")),
            batch_norm=hp.boolean("batch_norm"),
            dense=dense,
        )

    def build_body(
        self,
        arch: RnnArch,
        x: keras.KerasTensor,
        regularizer: keras.regularizers.Regularizer | None,
    ) -> keras.KerasTensor:
        height, width, channels = x.shape[1:]
        x = keras.layers.Reshape((height, width * channels))(x)
        cell = _CELLS[arch.cell]
        for i, units in enumerate(arch.units):
            layer = cell(
                units,
                activation=arch.activation,
                return_sequences=i < len(arch.units) - 1,
                kernel_regularizer=regularizer,
                recurrent_regularizer=regularizer,
            )
            x = (keras.layers.Bidirectional(layer) if arch.bidirectional else layer)(x)
        if arch.batch_norm:
            x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        for dense in arch.dense:
            x = keras.layers.Dense(
                dense.units, activation="relu", kernel_regularizer=regularizer
            )(x)
            if dense.dropout > 0:
                x = keras.layers.Dropout(dense.dropout)(x)
        return x

    PRESETS = presets(
        document_preset(
            name="doc001_simple_rnn",
            source="001",
            description="SimpleRNN 256/128/64 relu over rows, BN; plain SGD lr 0.01, batch 65, 25 epochs",
            params={
                "cell": "simple", "rnn_layers": 3, "units_0": 256, "units_1": 128, "units_2": 64,
                "dense_layers": 0, "bidirectional": False, "rnn_activation": "relu", "batch_norm": True,
                "optimizer": "sgd", "momentum": 0.0, "epochs": 25, "batch_size": 65,
                "learning_rate": 0.01,
            },
            param_count=135_498,
        ),
        document_preset(
            name="doc001_bilstm",
            source="001",
            description="Bidirectional LSTM 256/128, Dense 256/128 relu with dropout 0.3; Adam lr 0.01, batch 64, 20 epochs",
            params={
                "cell": "lstm", "rnn_layers": 2, "units_0": 256, "units_1": 128,
                "dense_layers": 2,
                "dense_units_0": 256, "dense_dropout_0": 0.3,
                "dense_units_1": 128, "dense_dropout_1": 0.3,
                "bidirectional": True, "rnn_activation": "tanh", "batch_norm": False,
                "optimizer": "adam", "epochs": 20, "batch_size": 64, "learning_rate": 0.01,
            },
            param_count=1_340_042,
        ),
    )  # fmt: skip


SPACE = RnnSpace()
