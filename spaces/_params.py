"""Parameter sources: one space definition, several ways to get values.

A space asks for its parameters through a :class:`ParamSource` (define-by-run, like an Optuna
trial or keras-tuner's ``hp``). Which source it is decides where the values come from:

* :class:`TrialParams` samples them from an Optuna trial;
* :class:`FixedParams` reads them from a plain dict (presets, best params) and checks each value
  against the range the space declares, so a preset that drifts out of its space fails loudly;
* :class:`SpaceRecorder` records the declarations themselves (``--show-space``);
* :class:`DefaultParams` answers every parameter with its default, for a dry build before any
  trial exists (:func:`spaces.check`).

keras-tuner's ``HyperParameters`` is adapted in ``search.engines`` (a space sampled by
keras-tuner); :class:`spaces.HyperParameters` is the reverse (a keras-tuner ``build(hp)`` sampled
from one of these sources).
"""

from __future__ import annotations

import abc
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = [
    "ChoiceParam",
    "DefaultParams",
    "FixedParams",
    "FloatParam",
    "IntParam",
    "InvalidParamsError",
    "Param",
    "ParamSource",
    "SpaceRecorder",
    "TrialParams",
]

T = TypeVar("T")
Choice = bool | int | float | str


class InvalidParamsError(ValueError):
    """A parameter dict is not a point of the space it is used with."""


@dataclass(frozen=True)
class IntParam:
    """An integer in ``[low, high]``, optionally on a log scale or a step grid."""

    name: str
    low: int
    high: int
    step: int = 1
    log: bool = False

    def describe(self) -> str:
        scale = ", log" if self.log else (f", step {self.step}" if self.step != 1 else "")
        return f"int [{self.low}, {self.high}{scale}]"

    def distribution(self) -> BaseDistribution:
        """The distribution an Optuna trial records for this parameter."""
        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def check(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise InvalidParamsError(f"{self.name}={value!r} is not an integer")
        v = int(value)
        if not self.low <= v <= self.high or (v - self.low) % self.step:
            raise InvalidParamsError(f"{self.name}={v} is outside {self.describe()}")
        return v


@dataclass(frozen=True)
class FloatParam:
    """A float in ``[low, high]``, optionally on a log scale or a step grid."""

    name: str
    low: float
    high: float
    step: float | None = None
    log: bool = False

    def describe(self) -> str:
        scale = ", log" if self.log else (f", step {self.step}" if self.step else "")
        return f"float [{self.low:g}, {self.high:g}{scale}]"

    def distribution(self) -> BaseDistribution:
        """The distribution an Optuna trial records for this parameter."""
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParamsError(f"{self.name}={value!r} is not a number")
        v = float(value)
        tol = 1e-9 * max(1.0, abs(self.high))
        if not math.isfinite(v) or not self.low - tol <= v <= self.high + tol:
            raise InvalidParamsError(f"{self.name}={v:g} is outside {self.describe()}")
        if self.step:
            k = (v - self.low) / self.step
            if abs(k - round(k)) > 1e-6:
                raise InvalidParamsError(f"{self.name}={v:g} is not on {self.describe()}")
        return v


@dataclass(frozen=True)
class ChoiceParam:
    """One of a fixed list of choices."""

    name: str
    choices: tuple[Choice, ...]

    def describe(self) -> str:
        return "one of " + ", ".join(str(c) for c in self.choices)

    def distribution(self) -> BaseDistribution:
        """The distribution an Optuna trial records for this parameter."""
        return CategoricalDistribution(self.choices)

    def check(self, value: Any) -> Choice:
        for c in self.choices:
            if type(c) is type(value) and c == value:
                return c
            # JSON and Optuna round-trips turn 1.0 into 1 and keep bools: accept equal numbers.
            if not isinstance(c, bool | str) and not isinstance(value, bool | str) and c == value:
                return c
        raise InvalidParamsError(f"{self.name}={value!r} is not {self.describe()}")


Param = IntParam | FloatParam | ChoiceParam


class ParamSource(abc.ABC):
    """Where a space gets its parameter values from (see the module docstring)."""

    def int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        """An integer parameter in ``[low, high]``."""
        return int(self._get(IntParam(name, low, high, step, log)))

    def float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """A float parameter in ``[low, high]``."""
        return float(self._get(FloatParam(name, low, high, step, log)))

    def choice(self, name: str, choices: Sequence[T]) -> T:
        """One of ``choices`` (bools, ints, floats or strings)."""
        return self._get(ChoiceParam(name, tuple(choices)))  # type: ignore[arg-type,return-value]

    def boolean(self, name: str) -> bool:
        """A yes/no switch."""
        return bool(self.choice(name, (False, True)))

    @abc.abstractmethod
    def _get(self, param: Param) -> Any:
        """Return the value of ``param``."""


class TrialParams(ParamSource):
    """Samples every parameter from an Optuna trial."""

    def __init__(self, trial: optuna.trial.BaseTrial) -> None:
        self.trial = trial

    def _get(self, param: Param) -> Any:
        if isinstance(param, IntParam):
            return self.trial.suggest_int(
                param.name, param.low, param.high, step=param.step, log=param.log
            )
        if isinstance(param, FloatParam):
            return self.trial.suggest_float(
                param.name, param.low, param.high, step=param.step, log=param.log
            )
        return self.trial.suggest_categorical(param.name, param.choices)


class FixedParams(ParamSource):
    """Reads parameters from a dict and checks every value against its declared range.

    Args:
        values: parameter name to value, as stored by Optuna or written in a preset.
        strict: after the space is built, :meth:`check_all_used` raises on keys the space
            never asked for (a typo in a preset is an error, not a silent default).
    """

    def __init__(self, values: Mapping[str, Any], *, strict: bool = True) -> None:
        self.values = dict(values)
        self.strict = strict
        self.used: set[str] = set()

    def _get(self, param: Param) -> Any:
        if param.name not in self.values:
            raise InvalidParamsError(f"missing parameter {param.name} ({param.describe()})")
        self.used.add(param.name)
        return param.check(self.values[param.name])

    def check_all_used(self) -> None:
        """Raise if some given parameters were never asked for by the space."""
        unknown = sorted(set(self.values) - self.used)
        if self.strict and unknown:
            raise InvalidParamsError(f"parameters not in this space: {', '.join(unknown)}")


class SpaceRecorder(ParamSource):
    """Records every declaration a space makes.

    Without a random generator it answers with values that reach the most parameters (integers
    their maximum, so per-layer parameters of the deepest model appear; switches ``True``; other
    choices their first entry). With one it answers at random, so repeated passes also reach
    the branches of other choices (``Space.describe`` does both).
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self.params: dict[str, Param] = {}
        self.rng = rng

    def _get(self, param: Param) -> Any:
        self.params.setdefault(param.name, param)
        rng = self.rng
        if isinstance(param, IntParam):
            if rng is None:
                return param.high
            return param.low + param.step * rng.randint(0, (param.high - param.low) // param.step)
        if isinstance(param, FloatParam):
            return param.low if rng is None else rng.uniform(param.low, param.high)
        if rng is not None:
            return rng.choice(param.choices)
        return True if param.choices == (False, True) else param.choices[0]


class DefaultParams(ParamSource):
    """Answers every parameter with its default: the lowest number, the first choice, switches off.

    A keras-tuner-style ``hp`` over this source answers the defaults its calls declare instead
    (``default=``, else keras-tuner's: the minimum, the first choice, ``False``), as keras-tuner's
    own fresh ``HyperParameters()`` does.
    """

    def _get(self, param: Param) -> Any:
        if isinstance(param, ChoiceParam):
            return False if param.choices == (False, True) else param.choices[0]
        return param.low
