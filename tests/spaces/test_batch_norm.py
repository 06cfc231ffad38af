"""Batch norm's moving averages settle within a first rung (spaces._shared.BN_MOMENTUM).

A multi-fidelity search judges a model by its validation accuracy after one short epoch; with
Keras' default momentum (0.99) a batch-norm model is validated on statistics still near their
initial values and looks broken (CNN 003: 0.24 on validation at 0.72 on training).
"""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from search.data import load_dataset
from search.training import fit_candidate
from spaces import FAMILIES, FixedParams, get_space


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_batch_norm_layer_of_a_family_uses_the_shared_momentum(family: str) -> None:
    from spaces._shared import BN_MOMENTUM

    space = get_space(family)
    for preset in space.presets.values():
        candidate = space.sample(FixedParams(dict(preset.params), strict=False))
        model = space.build_model(candidate, (28, 28, 1) if family != "cifar_cnn" else (32, 32, 3), 10)
        norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        assert all(layer.momentum == BN_MOMENTUM for layer in norms), (family, preset.name)


def test_a_batch_norm_cnn_validates_near_what_it_learned_after_one_short_epoch(keras_home: Path) -> None:
    data = load_dataset("fashion_mnist", limit=5000, seed=0)
    space = get_space("cnn")
    candidate = space.sample(FixedParams(dict(space.presets["doc003_cnn_dropout07"].params)))
    keras.utils.set_random_seed(0)
    result = fit_candidate(space, candidate, data, max_epochs=1)
    train, val = result.history["accuracy"][0], result.history["val_accuracy"][0]
    assert train > 0.5  # it learned something in ~35 steps
    assert val > train - 0.15, (train, val)  # and validation sees it (0.99: 0.2 on validation)
