"""``Space.compile`` keeps TensorFlow's failing remapper away from models with leaky ReLUs.

On a CPU, TensorFlow's grappler remapper fails on the training step of a convolution followed by a
leaky ReLU and logs an ``E0000 ... remapper failed: INVALID_ARGUMENT`` line to file descriptor 2,
in the middle of a search's output. These tests train such a model the way a trial does and read
what reached file descriptor 2.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import spaces

pytestmark = pytest.mark.skipif(bool(tf.config.list_logical_devices("GPU")), reason="the CPU's remapper")


def compile_and_fit(activation: str) -> None:
    """The documents' basic CNN (002) with ``activation``, compiled by its space, trained one epoch."""
    space = spaces.FAMILIES["cnn"]
    params = {**space.presets["doc002_basic_cnn"].params, "activation": activation}
    candidate = space.from_params(params)
    model = space.build_model(candidate, (28, 28, 1), 10)
    space.compile(model, candidate)
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)


def remapping() -> bool:
    return bool(tf.config.optimizer.get_experimental_options().get("remapping", True))


def test_a_leaky_relu_cnn_trains_without_the_remapper_error(capfd: pytest.CaptureFixture[str]) -> None:
    capfd.readouterr()
    compile_and_fit("leaky_relu")
    assert "remapper failed" not in capfd.readouterr().err
    assert not remapping()


def test_the_next_model_without_leaky_relu_gets_the_remapper_back() -> None:
    compile_and_fit("leaky_relu")
    assert not remapping()
    compile_and_fit("relu")  # the next trial's model: the option follows each model
    assert remapping()


def test_leaky_relu_is_found_in_activations_and_layers() -> None:
    def model(*layers: keras.Layer) -> keras.Model:
        return keras.Sequential([keras.Input((8, 8, 1)), *layers])

    assert spaces._base._uses_leaky_relu(model(keras.layers.Conv2D(2, 3, activation="leaky_relu")))
    assert spaces._base._uses_leaky_relu(model(keras.layers.Conv2D(2, 3), keras.layers.Activation("leaky_relu")))
    assert spaces._base._uses_leaky_relu(model(model(keras.layers.Conv2D(2, 3), keras.layers.LeakyReLU())))
    assert not spaces._base._uses_leaky_relu(model(keras.layers.Conv2D(2, 3, activation="relu")))
