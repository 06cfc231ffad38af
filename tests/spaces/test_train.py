"""Tests of the training knobs in ``spaces._train``: optimizers, losses, schedules, sampling."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import pytest

from spaces import FixedParams, InvalidParamsError, TrainConfig, TrainRanges
from spaces._train import OPTIMIZERS, sample_train

EXPECTED_OPTIMIZERS: dict[str, type[keras.optimizers.Optimizer]] = {
    "adam": keras.optimizers.Adam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
    "adamax": keras.optimizers.Adamax,
    "nadam": keras.optimizers.Nadam,
}

TRAIN_PARAMS: dict[str, Any] = {
    "optimizer": "adam", "label_smoothing_on": False, "weight_decay_on": False,
    "epochs": 10, "batch_size": 64, "learning_rate": 1e-3, "loss": "categorical_crossentropy",
    "lr_schedule": "constant", "shift": 0.0, "hflip": False,
}  # fmt: skip


def config(**overrides: Any) -> TrainConfig:
    """A training config with Adam 1e-3, overridden by ``overrides``."""
    values: dict[str, Any] = {
        "epochs": 10, "batch_size": 32, "learning_rate": 1e-3, "optimizer": "adam", **overrides
    }  # fmt: skip
    return TrainConfig(**values)


def _lr(optimizer: keras.optimizers.Optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_builds_its_class_with_the_lr(name: str) -> None:
    optimizer = config(optimizer=name, learning_rate=0.0123).make_optimizer()
    assert type(optimizer) is EXPECTED_OPTIMIZERS[name]
    assert _lr(optimizer) == pytest.approx(0.0123)


def test_sgd_gets_its_momentum() -> None:
    optimizer = config(optimizer="sgd", momentum=0.9).make_optimizer()
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.momentum == pytest.approx(0.9)


Y_TRUE = np.array([[0.0, 1.0, 0.0]], dtype="float32")
Y_PRED = np.array([[0.2, 0.7, 0.1]], dtype="float32")


def test_kl_loss_with_label_smoothing_matches_hand_computation() -> None:
    loss = config(loss="kl_divergence", label_smoothing=0.3).make_loss()
    target = [0.1, 0.8, 0.1]  # 0.3 spread over 3 classes, 0.7 kept on the true one
    expected = sum(t * math.log(t / p) for t, p in zip(target, Y_PRED[0]))
    assert float(loss(Y_TRUE, Y_PRED)) == pytest.approx(expected, rel=1e-5)


def test_kl_loss_without_smoothing_equals_cross_entropy_on_one_hot() -> None:
    kl = config(loss="kl_divergence").make_loss()
    ce = config().make_loss()
    assert float(kl(Y_TRUE, Y_PRED)) == pytest.approx(-math.log(0.7), rel=1e-5)
    assert float(ce(Y_TRUE, Y_PRED)) == pytest.approx(-math.log(0.7), rel=1e-5)


def test_cross_entropy_label_smoothing_matches_hand_computation() -> None:
    loss = config(label_smoothing=0.3).make_loss()
    assert isinstance(loss, keras.losses.CategoricalCrossentropy)
    expected = -sum(t * math.log(p) for t, p in zip([0.1, 0.8, 0.1], Y_PRED[0]))
    assert float(loss(Y_TRUE, Y_PRED)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.15])
def test_kl_loss_keras_equivalent_trains_the_same(smoothing: float) -> None:
    """Keras' own loss a logged model records in place of the searched KL divergence: the same
    gradients with respect to the probabilities, whatever they are."""
    tf = pytest.importorskip("tensorflow")
    loss = config(loss="kl_divergence", label_smoothing=smoothing).make_loss()
    equivalent = loss.keras_equivalent()
    assert type(equivalent).__module__.startswith("keras.")
    restored = keras.losses.deserialize(keras.losses.serialize(equivalent))  # no custom object
    y_true = np.eye(3, dtype="float32")[[1, 0, 2, 1]]
    for seed in range(3):
        logits = tf.Variable(np.random.default_rng(seed).normal(size=(4, 3)).astype("float32"))
        gradients = []
        for fn in (loss, restored):
            with tf.GradientTape() as tape:
                value = fn(y_true, tf.nn.softmax(logits))
            gradients.append(tape.gradient(value, logits).numpy())
        np.testing.assert_allclose(gradients[0], gradients[1], rtol=1e-4, atol=1e-6)


def test_kl_loss_survives_serialization() -> None:
    loss = config(loss="kl_divergence", label_smoothing=0.15).make_loss()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is type(loss)
    assert restored.label_smoothing == pytest.approx(0.15)


def test_cosine_schedule_decays_from_base_to_zero() -> None:
    base, epochs = 0.01, 50
    (callback,) = config(learning_rate=base, lr_schedule="cosine").schedule_callbacks(epochs)
    assert isinstance(callback, keras.callbacks.LearningRateScheduler)
    lrs = [callback.schedule(epoch, base) for epoch in range(epochs + 1)]
    assert lrs[0] == pytest.approx(base)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert lrs[epochs - 1] < 1e-3 * base  # the last epoch trains at ~0
    assert lrs[epochs] == pytest.approx(0.0, abs=1e-12)  # and training ends at 0


def test_cosine_schedule_drives_the_optimizer_during_fit() -> None:
    keras.backend.clear_session()
    base, epochs = 0.1, 6
    train = config(optimizer="sgd", learning_rate=base, lr_schedule="cosine")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=train.make_optimizer(), loss=train.make_loss())
    seen: list[float] = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(_lr(model.optimizer))
    )
    x = np.zeros((8, 4), dtype="float32")
    y = np.eye(2, dtype="float32")[np.arange(8) % 2]
    model.fit(x, y, epochs=epochs, verbose=0, callbacks=[*train.schedule_callbacks(epochs), record])
    expected = [base * 0.5 * (1 + math.cos(math.pi * e / epochs)) for e in range(epochs)]
    assert seen == pytest.approx(expected, rel=1e-5)


def test_plateau_schedule_reduces_on_validation_loss() -> None:
    (callback,) = config(learning_rate=1e-3, lr_schedule="plateau").schedule_callbacks(10)
    assert isinstance(callback, keras.callbacks.ReduceLROnPlateau)
    assert callback.monitor == "val_loss"
    assert callback.factor == pytest.approx(0.5)
    assert callback.min_lr == pytest.approx(1e-5)


def test_constant_schedule_adds_no_callback() -> None:
    assert config().schedule_callbacks(10) == []


class TestSampleTrain:
    def test_reads_a_plain_dict(self) -> None:
        source = FixedParams(TRAIN_PARAMS)
        train = sample_train(source, TrainRanges())
        source.check_all_used()
        assert train == TrainConfig(epochs=10, batch_size=64, learning_rate=1e-3, optimizer="adam")

    def test_momentum_only_with_sgd(self) -> None:
        with pytest.raises(InvalidParamsError, match="missing parameter momentum"):
            sample_train(FixedParams({**TRAIN_PARAMS, "optimizer": "sgd"}), TrainRanges())
        sgd = sample_train(
            FixedParams({**TRAIN_PARAMS, "optimizer": "sgd", "momentum": 0.5}), TrainRanges()
        )
        assert sgd.momentum == 0.5
        source = FixedParams({**TRAIN_PARAMS, "momentum": 0.5})
        sample_train(source, TrainRanges())
        with pytest.raises(InvalidParamsError, match="not in this space: momentum"):
            source.check_all_used()

    def test_switches_gate_smoothing_and_weight_decay(self) -> None:
        values = {
            **TRAIN_PARAMS, "label_smoothing_on": True, "label_smoothing": 0.1,
            "weight_decay_on": True, "weight_decay": 1e-4,
        }  # fmt: skip
        train = sample_train(FixedParams(values), TrainRanges())
        assert train.label_smoothing == 0.1 and train.weight_decay == 1e-4
        with pytest.raises(InvalidParamsError, match="label_smoothing=0.3 is outside"):
            sample_train(FixedParams({**values, "label_smoothing": 0.3}), TrainRanges())

    def test_ranges_bound_the_values(self) -> None:
        narrow = TrainRanges(epochs=(1, 20), optimizers=("adam",))
        with pytest.raises(InvalidParamsError, match="epochs=25 is outside"):
            sample_train(FixedParams({**TRAIN_PARAMS, "epochs": 25}), narrow)
        with pytest.raises(InvalidParamsError, match="optimizer='sgd'"):
            sample_train(FixedParams({**TRAIN_PARAMS, "optimizer": "sgd"}), narrow)


def test_kl_loss_works_in_a_compiled_graph() -> None:
    keras.backend.clear_session()
    train = config(loss="kl_divergence", label_smoothing=0.1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=train.make_optimizer(), loss=train.make_loss())
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    y = np.eye(3, dtype="float32")[np.arange(8) % 3]
    graph_loss = model.evaluate(x, y, batch_size=8, verbose=0)  # traced, not eager
    eager_loss = float(train.make_loss()(y, model.predict_on_batch(x)))
    assert math.isfinite(graph_loss)
    assert graph_loss == pytest.approx(eager_loss, rel=1e-5)
