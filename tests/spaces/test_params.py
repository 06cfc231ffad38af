"""Unit tests of the parameter sources in ``spaces._params``."""

from __future__ import annotations

import json
import random
from typing import Any

import optuna
import pytest

from spaces import FixedParams, InvalidParamsError, ParamSource, SpaceRecorder, TrialParams
from spaces._params import ChoiceParam, FloatParam, IntParam

optuna.logging.set_verbosity(optuna.logging.WARNING)


def toy_space(hp: ParamSource) -> dict[str, Any]:
    """A small define-by-run space touching every kind of parameter, with one conditional."""
    values: dict[str, Any] = {
        "layers": hp.int("layers", 1, 3),
        "width": hp.int("width", 8, 64, step=8),
        "units": hp.int("units", 16, 512, log=True),
        "lr": hp.float("lr", 1e-5, 1e-1, log=True),
        "dropout": hp.float("dropout", 0.0, 0.5, step=0.05),
        "scale": hp.float("scale", 0.5, 2.0),
        "kernel": hp.choice("kernel", (3, 5)),
        "act": hp.choice("act", ("relu", "tanh")),
        "bn": hp.boolean("bn"),
    }
    if values["bn"]:
        values["momentum"] = hp.float("momentum", 0.9, 0.999)
    return values


class TestIntParam:
    def test_accepts_bounds_and_rejects_outside(self) -> None:
        p = IntParam("n", 1, 5)
        assert p.check(1) == 1 and p.check(5) == 5
        for bad in (0, 6):
            with pytest.raises(InvalidParamsError, match="n=.* outside"):
                p.check(bad)

    def test_step_grid(self) -> None:
        p = IntParam("width", 8, 64, step=8)
        assert p.check(24) == 24
        with pytest.raises(InvalidParamsError, match="outside int \\[8, 64, step 8\\]"):
            p.check(20)

    def test_integral_float_from_json_becomes_int(self) -> None:
        value = IntParam("n", 1, 5).check(3.0)
        assert value == 3 and type(value) is int

    @pytest.mark.parametrize("bad", [2.5, True, "3", None])
    def test_rejects_non_integers(self, bad: object) -> None:
        with pytest.raises(InvalidParamsError, match="not an integer"):
            IntParam("n", 1, 5).check(bad)

    def test_describe_shows_scale(self) -> None:
        assert IntParam("u", 16, 512, log=True).describe() == "int [16, 512, log]"
        assert IntParam("u", 1, 3).describe() == "int [1, 3]"


class TestFloatParam:
    def test_bounds_and_log_range(self) -> None:
        p = FloatParam("lr", 1e-5, 1e-1, log=True)
        assert p.check(1e-5) == 1e-5 and p.check(0.1) == 0.1
        assert p.describe() == "float [1e-05, 0.1, log]"
        for bad in (1e-6, 0.2, float("nan"), float("inf")):
            with pytest.raises(InvalidParamsError, match="outside"):
                p.check(bad)

    def test_step_grid_tolerates_rounding(self) -> None:
        p = FloatParam("dropout", 0.0, 0.7, step=0.05)
        assert p.check(0.1 + 0.2) == pytest.approx(0.3)  # 0.30000000000000004 is on the grid
        assert p.check(0.7) == 0.7
        with pytest.raises(InvalidParamsError, match="not on float"):
            p.check(0.33)

    def test_json_int_becomes_float(self) -> None:
        value = FloatParam("scale", 0.5, 2.0).check(1)
        assert value == 1.0 and type(value) is float

    @pytest.mark.parametrize("bad", [True, "0.5", None])
    def test_rejects_non_numbers(self, bad: object) -> None:
        with pytest.raises(InvalidParamsError, match="not a number"):
            FloatParam("scale", 0.5, 2.0).check(bad)


class TestChoiceParam:
    def test_bool_choices_are_not_ints(self) -> None:
        p = ChoiceParam("bn", (False, True))
        assert p.check(True) is True and p.check(False) is False
        for bad in (1, 0, "True"):
            with pytest.raises(InvalidParamsError, match="is not one of False, True"):
                p.check(bad)

    def test_int_choices_accept_equal_numbers_only(self) -> None:
        p = ChoiceParam("kernel", (3, 5))
        value = p.check(5.0)
        assert value == 5 and type(value) is int
        for bad in (4, "5", True):
            with pytest.raises(InvalidParamsError):
                p.check(bad)

    def test_float_choice_comes_back_as_int(self) -> None:
        value = ChoiceParam("ratio", (0.5, 1.0)).check(1)
        assert value == 1.0 and type(value) is float

    def test_str_choices(self) -> None:
        p = ChoiceParam("act", ("relu", "tanh"))
        assert p.check("tanh") == "tanh"
        with pytest.raises(InvalidParamsError, match="act='elu' is not one of relu, tanh"):
            p.check("elu")


class TestFixedParams:
    def test_missing_parameter_names_it(self) -> None:
        source = FixedParams({"layers": 2})
        assert source.int("layers", 1, 3) == 2
        with pytest.raises(InvalidParamsError, match="missing parameter width"):
            source.int("width", 8, 64, step=8)

    def test_unknown_keys_are_rejected_when_strict(self) -> None:
        source = FixedParams({"layers": 2, "typo": 1})
        source.int("layers", 1, 3)
        with pytest.raises(InvalidParamsError, match="parameters not in this space: typo"):
            source.check_all_used()
        lenient = FixedParams({"layers": 2, "typo": 1}, strict=False)
        lenient.int("layers", 1, 3)
        lenient.check_all_used()

    def test_values_are_range_checked(self) -> None:
        with pytest.raises(InvalidParamsError, match="lr=0.5 is outside"):
            FixedParams({"lr": 0.5}).float("lr", 1e-5, 1e-1, log=True)


class TestTrialParams:
    def test_declares_optuna_distributions(self) -> None:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        trial = study.ask()
        toy_space(TrialParams(trial))
        dists = trial.distributions
        assert dists["units"] == optuna.distributions.IntDistribution(16, 512, log=True)
        assert dists["width"] == optuna.distributions.IntDistribution(8, 64, step=8)
        assert dists["lr"] == optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True)
        assert dists["dropout"] == optuna.distributions.FloatDistribution(0.0, 0.5, step=0.05)
        assert dists["bn"] == optuna.distributions.CategoricalDistribution((False, True))
        assert dists["kernel"] == optuna.distributions.CategoricalDistribution((3, 5))

    def test_each_param_names_the_distribution_a_trial_records(self) -> None:
        """``Param.distribution()`` is what the prior sampler draws a whole point from before any
        trial exists: it must be the distribution the trial then records, or Optuna refuses it."""
        recorder = SpaceRecorder()
        toy_space(recorder)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        trial = study.ask()
        toy_space(TrialParams(trial))
        recorded = trial.distributions  # the conditional "momentum" only when it drew bn=True
        assert len(recorded) >= 9
        assert {name: recorder.params[name].distribution() for name in recorded} == recorded

    @pytest.mark.parametrize("seed", range(5))
    def test_json_round_trip_rebuilds_the_same_values(self, seed: int) -> None:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        trial = study.ask()
        sampled = toy_space(TrialParams(trial))
        text = json.dumps({**trial.params, "scale": 1.0})  # a value some JSON stores return as 1

        def integral_floats_as_ints(s: str) -> float | int:
            return int(float(s)) if float(s).is_integer() else float(s)

        stored = json.loads(text, parse_float=integral_floats_as_ints)
        assert stored["scale"] == 1 and type(stored["scale"]) is int
        source = FixedParams(stored)
        rebuilt = toy_space(source)
        source.check_all_used()
        assert rebuilt == {**sampled, "scale": 1.0}
        assert type(rebuilt["scale"]) is float


class TestSpaceRecorder:
    def test_default_pass_reaches_the_deepest_branch(self) -> None:
        recorder = SpaceRecorder()
        values = toy_space(recorder)
        assert list(recorder.params) == [
            "layers", "width", "units", "lr", "dropout", "scale", "kernel", "act", "bn", "momentum"
        ]  # fmt: skip
        assert values["layers"] == 3 and values["units"] == 512  # integers at their maximum
        assert values["bn"] is True and values["kernel"] == 3 and values["act"] == "relu"
        assert values["lr"] == 1e-5  # floats at their minimum
        assert recorder.params["units"] == IntParam("units", 16, 512, log=True)

    def test_random_passes_stay_in_range_and_reach_other_branches(self) -> None:
        recorder = SpaceRecorder(random.Random(1))
        seen_bn, seen_kernel = set(), set()
        for _ in range(40):
            values = toy_space(recorder)
            seen_bn.add(values["bn"])
            seen_kernel.add(values["kernel"])
            assert values["width"] % 8 == 0 and 8 <= values["width"] <= 64
            assert 16 <= values["units"] <= 512
            assert 1e-5 <= values["lr"] <= 1e-1
        assert seen_bn == {False, True} and seen_kernel == {3, 5}
