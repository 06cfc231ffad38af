"""The keras-tuner-compatible ``hp`` of ``spaces._hp``, over real Optuna trials and the other sources."""

from __future__ import annotations

import inspect
import random
from typing import Any

import keras_tuner as kt
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from spaces import FixedParams, HyperParameters, InvalidParamsError, SpaceRecorder, TrialParams
from spaces._params import ChoiceParam, FloatParam, IntParam

optuna.logging.set_verbosity(optuna.logging.WARNING)


def trial(seed: int = 0) -> optuna.Trial:
    """A new trial of an in-memory study with a seeded random sampler."""
    study = optuna.create_study(
        storage=optuna.storages.InMemoryStorage(), sampler=optuna.samplers.RandomSampler(seed=seed)
    )
    return study.ask()


def every_kind(hp: Any) -> dict[str, Any]:
    """One call of each kind, as a keras-tuner build function would make them."""
    return {
        "layers": hp.Int("layers", 1, 3),
        "units": hp.Int("units", min_value=32, max_value=512, step=32),
        "filters": hp.Int("filters", 8, 128, sampling="log"),
        "batch": hp.Int("batch", 2, 32, step=2, sampling="log"),
        "lr": hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log"),
        "rate": hp.Float("rate", 0.0, 0.5, step=0.1),
        "scale": hp.Float("scale", 0.5, 2.0),
        "decay": hp.Float("decay", 1e-3, 10, step=10, sampling="log"),
        "act": hp.Choice("act", ["relu", "tanh"]),
        "kernel": hp.Choice("kernel", [3, 5], ordered=True),
        "bn": hp.Boolean("bn"),
        "seed": hp.Fixed("seed", 7),
    }


def test_the_signatures_are_keras_tuners() -> None:
    for method in (
        "Int",
        "Float",
        "Choice",
        "Boolean",
        "Fixed",
        "conditional_scope",
        "name_scope",
        "get",
    ):
        ours = inspect.signature(getattr(HyperParameters, method))
        theirs = inspect.signature(getattr(kt.HyperParameters, method))
        assert list(ours.parameters) == list(theirs.parameters), method
        for name, parameter in theirs.parameters.items():
            assert ours.parameters[name].default == parameter.default, f"{method}({name}=...)"


def test_each_call_becomes_the_matching_optuna_distribution() -> None:
    t = trial()
    values = every_kind(HyperParameters(TrialParams(t)))
    d = t.distributions
    assert d["layers"] == IntDistribution(1, 3)
    assert d["units"] == IntDistribution(32, 512, step=32)
    assert d["filters"] == IntDistribution(8, 128, log=True)
    # a step on a log scale multiplies (keras-tuner): Optuna gets the grid as choices
    assert d["batch"] == CategoricalDistribution([2, 4, 8, 16, 32])
    assert d["decay"] == CategoricalDistribution([0.001, 0.01, 0.1, 1.0, 10.0])
    assert d["lr"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert d["rate"] == FloatDistribution(0.0, 0.5, step=0.1)
    assert d["scale"] == FloatDistribution(0.5, 2.0)
    assert d["act"] == CategoricalDistribution(["relu", "tanh"])
    assert d["kernel"] == CategoricalDistribution([3, 5])
    assert d["bn"] == CategoricalDistribution([False, True])
    assert "seed" not in t.params and values["seed"] == 7  # Fixed: a value, not a parameter
    assert {k: v for k, v in values.items() if k != "seed"} == t.params
    assert isinstance(values["layers"], int) and isinstance(values["bn"], bool)


def test_a_grid_ends_on_its_last_step_as_in_keras_tuner() -> None:
    t = trial()
    hp = HyperParameters(TrialParams(t))
    hp.Int("n", 6, 13, step=3)  # keras-tuner's example: 6, 9, 12
    hp.Float("f", 0.0, 1.0, step=0.3)
    assert t.distributions["n"] == IntDistribution(6, 12, step=3)
    assert t.distributions["f"].high == pytest.approx(0.9)


def test_a_name_asked_again_keeps_its_first_value() -> None:
    """The getting-started guide asks for "activation" once per layer."""
    for seed in range(5):
        hp = HyperParameters(TrialParams(trial(seed)))
        first = hp.Choice("activation", ["relu", "tanh"])
        assert all(hp.Choice("activation", ["relu", "tanh"]) == first for _ in range(3))


def conditional(hp: Any) -> dict[str, Any]:
    """keras-tuner's ``conditional_scope`` example: model selection between an MLP and a CNN."""
    model_type = hp.Choice("model_type", ["mlp", "cnn"])
    with hp.conditional_scope("model_type", ["mlp"]):
        units = hp.Int("units", 8, 64)
    with hp.conditional_scope("model_type", "cnn"):
        filters = hp.Int("filters", 4, 32)
    rate = hp.Float("rate", 0.0, 0.5, parent_name="model_type", parent_values=["cnn"])
    return {"model_type": model_type, "units": units, "filters": filters, "rate": rate}


def test_conditional_scopes_sample_only_the_active_branch() -> None:
    seen = set()
    for seed in range(12):
        t = trial(seed)
        values = conditional(HyperParameters(TrialParams(t)))
        kind = values["model_type"]
        seen.add(kind)
        active = {"mlp": {"units"}, "cnn": {"filters", "rate"}}[kind]
        assert set(t.params) == {"model_type", *active}  # the inactive branch is never sampled
        for name in {"units", "filters", "rate"} - active:
            assert values[name] is None
    assert seen == {"mlp", "cnn"}


def test_a_scope_on_an_undeclared_parent_is_refused_as_in_keras_tuner() -> None:
    hp = HyperParameters(TrialParams(trial()))
    with (
        pytest.raises(ValueError, match="named: model_type not defined"),
        hp.conditional_scope("model_type", ["mlp"]),
    ):
        pass


def test_get_values_and_name_scopes() -> None:
    hp = HyperParameters(FixedParams({"model_type": "mlp", "units": 16, "block/width": 8}))
    conditional(hp)
    with hp.name_scope("block"):
        assert hp.Int("width", 4, 16) == 8
        assert hp.get("width") == 8
    assert hp.values == {"model_type": "mlp", "units": 16, "block/width": 8}
    assert hp["units"] == 16 and "units" in hp and "filters" not in hp
    with pytest.raises(ValueError, match="filters is currently inactive"):
        hp.get("filters")
    with pytest.raises(KeyError, match="nothing does not exist"):
        hp.get("nothing")


def test_without_a_source_every_call_answers_keras_tuners_default() -> None:
    ours, theirs = HyperParameters(), kt.HyperParameters()
    assert every_kind(ours) == every_kind(theirs)
    assert conditional(ours) == conditional(theirs)
    assert ours.Int("d", 1, 9, default=4) == theirs.Int("d", 1, 9, default=4) == 4
    assert ours.Boolean("on", default=True) is True
    assert "seed" not in ours.sampled and ours.sampled["d"] == 4  # the point's parameters


def test_fixed_params_rebuild_a_trial_and_check_its_ranges() -> None:
    t = trial(3)
    sampled = every_kind(HyperParameters(TrialParams(t)))
    assert every_kind(HyperParameters(FixedParams(t.params))) == sampled
    with pytest.raises(InvalidParamsError, match=r"^units=40 is outside int \[32, 512, step 32\]"):
        every_kind(HyperParameters(FixedParams({**t.params, "units": 40})))
    with pytest.raises(InvalidParamsError, match="missing parameter lr"):
        every_kind(HyperParameters(FixedParams({k: v for k, v in t.params.items() if k != "lr"})))


def test_the_recorder_describes_every_branch() -> None:
    found: dict[str, Any] = {}
    rng = random.Random(0)
    for i in range(30):
        for space in (conditional, every_kind):
            recorder = SpaceRecorder(None if i == 0 else rng)
            space(HyperParameters(recorder))
            found.update({f"{space.__name__}.{k}": v for k, v in recorder.params.items()})
    assert found["conditional.units"] == IntParam("units", 8, 64)
    assert found["conditional.filters"] == IntParam("filters", 4, 32)
    assert found["conditional.rate"] == FloatParam("rate", 0.0, 0.5)
    assert found["every_kind.batch"] == ChoiceParam("batch", (2, 4, 8, 16, 32))
    assert "every_kind.seed" not in found


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda hp: hp.Int("x", 1, 10, sampling="reverse_log"), "reverse_log"),
        (lambda hp: hp.Int("x", 10, 1), "exceeds max_value"),
        (lambda hp: hp.Float("x", 0.0, 1.0, sampling="log"), "log sampling needs min_value > 0"),
        (lambda hp: hp.Choice("x", []), "has no values"),
    ],
)
def test_bad_declarations_say_which_parameter(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(HyperParameters(TrialParams(trial())))
