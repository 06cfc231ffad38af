"""The contract every registered family keeps; parametrized over ``spaces.FAMILIES``.

A new family is covered as soon as it is registered: its presets must be valid points that build
with the documented parameter counts, random samples must build and train, a trial's params must
rebuild the same model, ``describe()`` must show every range, bad dicts must be rejected, and no
architecture parameter may be silently ignored by the model.

The part of the contract that holds for any :class:`~spaces.SearchSpace` (found by its spec,
presets, random samples, rebuilding, ``describe()``, bad dicts) also runs over the users' spaces
of ``tests/user_project``: a ``build(hp)`` function, a keras-tuner ``HyperModel`` and a ``Space``
subclass.
"""

from __future__ import annotations

import functools
import json
import math
import pickle
import re
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

import spaces
from spaces import (
    Candidate,
    FixedParams,
    InvalidParamsError,
    Param,
    ParamSource,
    Space,
    TrialParams,
    UnbuildableError,
)
from spaces._params import ChoiceParam, FloatParam, IntParam

optuna.logging.set_verbosity(optuna.logging.WARNING)

INPUT_SHAPES: dict[str, tuple[int, int, int]] = {
    "fashion_mnist": (28, 28, 1),
    "mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
}
NUM_CLASSES = 10
SMALL = 1_000_000  # random samples used for training and rebuilding stay under this many params
SPACES_DIR = Path(spaces.__file__).resolve().parent
PROJECT = Path(__file__).resolve().parents[1] / "user_project"
FAMILY_NAMES = list(spaces.FAMILIES)
#: users' spaces, by the spec spaces.get_space finds them by, and a short id
USER_SPACES = {
    "user-build-hp": f"{PROJECT / 'kt_getting_started.py'}:build_model",
    "user-hypermodel": str(PROJECT / "kt_hypermodel.py"),
    "user-space-subclass": str(PROJECT / "my_space.py"),
}
#: every space the space-generic tests run over: the families by name, the users' by spec
ANY_SPACE = [*FAMILY_NAMES, *(pytest.param(spec, id=key) for key, spec in USER_SPACES.items())]
PRESETS = [
    pytest.param(family, preset, id=f"{family}-{preset}")
    for family, space in spaces.FAMILIES.items()
    for preset in space.presets
] + [
    pytest.param(spec, preset, id=f"{key}-{preset}")
    for key, spec in USER_SPACES.items()
    for preset in spaces.get_space(spec).presets
]

#: Values each family's documents tried (or its presets use); all must lie inside its ranges.
TRIED: dict[str, dict[str, list[Any]]] = {
    "cnn": {
        "epochs": [5, 8, 10, 12, 50, 150], "batch_size": [8, 16, 32, 64, 100, 128],
        "learning_rate": [1e-4, 5e-4, 1e-3], "optimizer": ["adam", "rmsprop", "adamax"],
        "loss": ["categorical_crossentropy", "kl_divergence"], "n_blocks": [1, 2, 3, 4, 5],
        "filters_0": [8, 32, 35, 50, 64, 128], "kernel_size": [3, 5], "padding": ["same", "valid"],
        "activation": ["relu", "tanh"], "dense_units_0": [16, 54, 64, 128, 256],
        "dropout_0": [0.2, 0.3, 0.4, 0.7], "dense_dropout_0": [0.5], "convs_per_block": [1, 2],
    },
    "lenet": {
        "pad": [True], "conv1_filters": [6], "conv2_filters": [16], "kernel_size": [5],
        "activation": ["tanh", "leaky_relu", "swish"], "pooling": ["max"],
        "dense1_units": [120], "dense2_units": [84], "epochs": [10], "batch_size": [128],
        "learning_rate": [1e-3, 1e-2], "optimizer": ["adam"],
    },
    "resnet": {
        "stem_filters": [64], "stem_kernel": [7], "stem_stride": [2], "stem_pool": [True],
        "stages": [1, 4], "base_filters": [64], "blocks_0": [2, 3], "blocks_2": [3],
        "block": ["basic", "bottleneck"], "transition": ["shortcut", "conv"],
        "dense_units": [1000], "epochs": [10], "batch_size": [64, 128], "optimizer": ["adam"],
    },
    "rnn": {
        "cell": ["simple", "lstm"], "rnn_layers": [2, 3], "units_0": [256], "units_1": [128],
        "units_2": [64], "rnn_activation": ["relu", "tanh"], "dense_units_0": [256],
        "dense_units_1": [128], "dense_dropout_0": [0.3], "learning_rate": [1e-3, 1e-2, 1e-1],
        "epochs": [20, 25, 40, 50], "batch_size": [64, 65], "optimizer": ["sgd", "adam", "rmsprop"],
    },
    "cifar_cnn": {
        "epochs": [7, 10, 15], "dense_units_0": [64, 128], "filters_0": [32], "filters_1": [64],
        "batch_size": [32], "optimizer": ["adam"],
    },
}  # fmt: skip


@functools.cache
def described(family: str) -> dict[str, Param]:
    """``describe()`` of a family (or a user's space, by its spec), computed once per session."""
    return spaces.get_space(family).describe()


def sample(space: Space, seed: int) -> tuple[optuna.trial.Trial, Candidate]:
    """An Optuna trial of a seeded random sampler, and the candidate the space samples from it."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trial = study.ask()
    return trial, space.sample(TrialParams(trial))


def build(
    space: Space, candidate: Candidate, dataset: str, *, trainable: bool = False
) -> keras.Model:
    """A fresh model of ``candidate`` on ``dataset``'s input shape.

    Unless ``trainable``, a family's model is built in a stateless scope, which creates all the
    variables in one batch at the end: about a quarter faster for the many models this suite only
    inspects (not a user's: a build that compiles creates its optimizer's variables at once).
    """
    keras.backend.clear_session(free_memory=False)  # the gc pass costs more than the build
    if trainable or not isinstance(space, Space):
        return space.build_model(candidate, INPUT_SHAPES[dataset], NUM_CLASSES)
    with keras.StatelessScope():
        return space.build_model(candidate, INPUT_SHAPES[dataset], NUM_CLASSES)


def assert_clean_invalid(error: ValueError) -> None:
    """An invalid combination must be rejected by the family's own check, in one line."""
    assert isinstance(error, UnbuildableError), f"{type(error).__name__}, not UnbuildableError: {error}"
    innermost = traceback.extract_tb(error.__traceback__)[-1]
    assert Path(innermost.filename).resolve().is_relative_to(SPACES_DIR), (
        f"ValueError raised by {innermost.filename}, not by the space: {error}"
    )
    assert "\n" not in str(error) and str(error)


@functools.cache
def small_seed(family: str, max_params: int = SMALL) -> int:
    """The first seed whose random sample builds with at most ``max_params`` (kept fast to train).

    Clean invalid combinations are skipped, and so are big models.
    """
    space = spaces.get_space(family)
    for seed in range(30):
        _, candidate = sample(space, seed)
        try:
            model = build(space, candidate, space.default_dataset)
        except ValueError as error:
            assert_clean_invalid(error)
            continue
        if model.count_params() <= max_params:
            return seed
    pytest.fail(f"no buildable {family} sample under {max_params:,} params in 30 seeds")


def small_sample(
    family: str, *, trainable: bool = False
) -> tuple[dict[str, Any], Candidate, keras.Model]:
    """A small random sample of ``family``: the trial's params, the candidate and a fresh model."""
    space = spaces.get_space(family)
    trial, candidate = sample(space, small_seed(family))
    model = build(space, candidate, space.default_dataset, trainable=trainable)
    return trial.params, candidate, model


def minimal_params(space: Space) -> dict[str, Any]:
    """The smallest point of a space: numbers at their minimum, first choices, switches off.

    Gating parameters at their minimum (no dense layers, one stage, ...) is where a parameter
    that is declared but never used shows up.
    """
    source = _Lowest({})
    space.sample(source)
    return source.answered


def architecture(model: keras.Model) -> list[tuple[str, tuple[Any, ...], int]]:
    """Layer classes, output shapes and parameter counts, in order."""
    return [
        (type(layer).__name__, tuple(layer.output.shape), layer.count_params())
        for layer in model.layers
    ]


def _without_names(config: Any) -> Any:
    if isinstance(config, dict):
        return {k: _without_names(v) for k, v in config.items() if k != "name"}
    if isinstance(config, list | tuple):
        return [_without_names(v) for v in config]
    return config


def fingerprint(model: keras.Model) -> list[tuple[str, Any]]:
    """Every layer's class and configuration, without the auto-generated layer names."""
    return [(type(layer).__name__, _without_names(layer.get_config())) for layer in model.layers]


def kernel_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Layers with a kernel regularizer slot, looking inside bidirectional wrappers."""
    for layer in model.layers:
        inner = [layer]
        if isinstance(layer, keras.layers.Bidirectional):
            inner = [layer.forward_layer, layer.backward_layer]
        yield from (sub for sub in inner if hasattr(sub, "kernel_regularizer"))


class _Lowest(ParamSource):
    """Values from a dict; a parameter it lacks gets its lowest value (first choice, switch off)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.answered: dict[str, Any] = {}

    def _get(self, param: Param) -> Any:
        if param.name in self.values:
            value = param.check(self.values[param.name])
        else:
            value = param.choices[0] if isinstance(param, ChoiceParam) else param.low
        self.answered[param.name] = value
        return value


def alternative(param: Param, value: Any) -> Any:
    """Another valid value of ``param``: the next choice, or the lowest (else next) number."""
    if isinstance(param, ChoiceParam):
        same = [type(c) is type(value) and c == value for c in param.choices]
        return param.choices[(same.index(True) + 1) % len(param.choices)]
    if isinstance(param, IntParam):
        return param.low if value != param.low else param.low + param.step
    return param.low if value != param.low else param.high


def out_of_range(param: Param) -> Any:
    """A value outside ``param``'s range."""
    if isinstance(param, IntParam):
        return param.high + param.step
    if isinstance(param, FloatParam):
        return param.high + (param.high - param.low) + 1.0
    return "not-a-choice"


# --- registration and presets ---------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_family_is_registered_under_its_name(family: str) -> None:
    space = spaces.get_space(family)
    assert space.name == family and space.summary
    assert space.default_dataset in INPUT_SHAPES
    assert space.presets, "every family starts from at least one document's configuration"


@pytest.mark.parametrize(("family", "name"), PRESETS)
def test_preset_is_a_valid_point(family: str, name: str) -> None:
    space = spaces.get_space(family)
    preset = space.presets[name]
    assert preset.name == name and preset.dataset in INPUT_SHAPES
    candidate = space.from_params(preset.params)  # strict: no missing, bad or leftover keys
    stored = json.loads(json.dumps(dict(preset.params)))
    assert space.from_params(stored) == candidate


@pytest.mark.parametrize(("family", "name"), PRESETS)
def test_a_presets_values_are_known_as_that_preset_and_no_other_point_is(family: str, name: str) -> None:
    space = spaces.get_space(family)
    preset = space.presets[name]
    drawn = {**preset.params, "tuner/epochs": 3}  # an engine's point: the preset's values and more
    assert space.preset_of(drawn) == name == space.preset_of(drawn, preset.dataset)
    assert space.preset_of(drawn, "another data set") is None
    first = next(iter(preset.params))
    assert space.preset_of({**preset.params, first: ("changed", preset.params[first])}) != name
    assert space.preset_of({k: v for k, v in preset.params.items() if k != first}) != name


@pytest.mark.parametrize(("family", "name"), PRESETS)
def test_preset_builds_with_the_documented_param_count(family: str, name: str) -> None:
    space = spaces.get_space(family)
    preset = space.presets[name]
    model = build(space, space.from_params(preset.params), preset.dataset)
    assert model.output.shape == (None, NUM_CLASSES)
    if preset.param_count is not None:
        assert model.count_params() == preset.param_count


@pytest.mark.parametrize("family", ANY_SPACE)
def test_a_space_is_found_by_its_spec_and_pickles_as_it(family: str) -> None:
    space = spaces.get_space(family)
    assert isinstance(space, spaces.SearchSpace) and space.name and space.summary
    assert space.default_dataset in INPUT_SHAPES
    assert space.spec is not None and spaces.get_space(space.spec) is space
    assert pickle.loads(pickle.dumps(space)) is space


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_documented_values_lie_in_the_ranges(family: str) -> None:
    if family not in TRIED:
        pytest.fail(f"add the values {family}'s documents tried to TRIED")
    params = described(family)
    for name, values in TRIED[family].items():
        assert name in params, f"{family} has no parameter {name}"
        for value in values:
            params[name].check(value)


# --- random samples -------------------------------------------------------------------------


@pytest.mark.parametrize("family", ANY_SPACE)
def test_most_random_samples_build(family: str) -> None:
    space = spaces.get_space(family)
    built, seeds = 0, 10
    for seed in range(seeds):
        _, candidate = sample(space, seed)
        try:
            build(space, candidate, space.default_dataset)
        except ValueError as error:
            assert_clean_invalid(error)
        else:
            built += 1
    assert built > seeds // 2, f"only {built} of {seeds} random {family} samples build"


@pytest.mark.parametrize("family", ANY_SPACE)
def test_random_sample_compiles_and_trains_a_step(family: str) -> None:
    space = spaces.get_space(family)
    _, candidate, model = small_sample(family, trainable=True)
    space.compile(model, candidate)
    model.run_eagerly = True  # tracing costs seconds per model; test_train covers graph mode
    rng = np.random.default_rng(0)
    x = rng.random((16, *INPUT_SHAPES[space.default_dataset]), dtype=np.float32)
    y = np.eye(NUM_CLASSES, dtype=np.float32)[rng.integers(0, NUM_CLASSES, 16)]
    logs = model.train_on_batch(x, y, return_dict=True)
    assert math.isfinite(float(logs["loss"]))
    probabilities = keras.ops.convert_to_numpy(model(x, training=False))
    assert probabilities.shape == (16, NUM_CLASSES)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("family", ANY_SPACE)
def test_trial_params_rebuild_the_same_model(family: str) -> None:
    space = spaces.get_space(family)
    params, candidate, model = small_sample(family)
    expected = architecture(model), model.count_params()
    rebuilt = space.from_params(params)
    assert rebuilt.arch == candidate.arch
    assert rebuilt.train == candidate.train
    again = build(space, rebuilt, space.default_dataset)
    assert (architecture(again), again.count_params()) == expected


@pytest.mark.parametrize("family", ANY_SPACE)
def test_describe_holds_every_sampled_parameter(family: str) -> None:
    space, params = spaces.get_space(family), described(family)
    for seed in range(20):
        trial, _ = sample(space, seed)
        for name, value in trial.params.items():
            assert name in params, f"{name} sampled but not described"
            params[name].check(value)
            declared, dist = params[name], trial.distributions[name]
            if isinstance(declared, ChoiceParam):
                assert dist == CategoricalDistribution(declared.choices)
            else:  # the range describe() shows is the one Optuna sampled from
                assert isinstance(dist, IntDistribution | FloatDistribution)
                assert (dist.low, dist.high, dist.step, dist.log) == (
                    declared.low, declared.high, declared.step, declared.log
                )


@pytest.mark.parametrize("family", ANY_SPACE)
def test_from_params_rejects_bad_dicts(family: str) -> None:
    space = spaces.get_space(family)
    # a preset, else (a user's space without one) a random sample's params
    good = dict(next(iter(space.presets.values())).params) if space.presets else small_sample(family)[0]
    params = described(family)
    for key in good:
        missing = {k: v for k, v in good.items() if k != key}
        with pytest.raises(InvalidParamsError, match=f"missing parameter {re.escape(key)} "):
            space.from_params(missing)
        with pytest.raises(InvalidParamsError, match=f"^{re.escape(key)}="):
            space.from_params({**good, key: out_of_range(params[key])})
    with pytest.raises(InvalidParamsError, match="not in this space: not_a_param"):
        space.from_params({**good, "not_a_param": 1})


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_no_architecture_parameter_is_silently_ignored(family: str) -> None:
    """Changing any one architecture parameter must change the model.

    Each parameter is tried once: at the smallest point of the space, where gating parameters are
    off so a parameter declared but unused shows up, or else at a small random sample (which
    reaches the parameters the smallest point does not declare).
    """
    space = spaces.FAMILIES[family]
    params = described(family)
    tested: set[str] = set()
    for point in (minimal_params(space), small_sample(family)[0]):
        try:
            base = fingerprint(build(space, space.from_params(point), space.default_dataset))
        except ValueError as error:
            assert_clean_invalid(error)
            continue
        used = FixedParams(point, strict=False)
        space.sample_arch(used)
        for name in sorted(used.used - tested):
            value = alternative(params[name], point[name])
            changed = space.sample(_Lowest({**point, name: value}))
            try:
                model = build(space, changed, space.default_dataset)
            except ValueError as error:
                assert_clean_invalid(error)
                continue
            if fingerprint(model) == base:
                pytest.fail(f"{family} ignores {name}: {point[name]!r} and {value!r} build alike")
            tested.add(name)
    assert tested


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_weight_decay_reaches_every_kernel(family: str) -> None:
    space = spaces.FAMILIES[family]
    params, _, _ = small_sample(family)
    candidate = space.from_params({**params, "weight_decay_on": True, "weight_decay": 1e-4})
    layers = list(kernel_layers(build(space, candidate, space.default_dataset)))
    assert len(layers) >= 2  # at least one body layer and the head
    missing = [layer.name for layer in layers if layer.kernel_regularizer is None]
    assert not missing, f"no L2 on {missing}"
