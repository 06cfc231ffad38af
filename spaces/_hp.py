"""keras-tuner's ``hp`` over the platform's parameter sources, so a ``build(hp)`` runs unchanged.

A keras-tuner user writes ``build(hp)`` against ``keras_tuner.HyperParameters``. The
:class:`HyperParameters` here has the same methods and arguments (``Int``, ``Float``, ``Choice``,
``Boolean``, ``Fixed``, ``conditional_scope``, ``name_scope``, ``get``, ``values``) but takes its
values from a :class:`~spaces.ParamSource`, so the same build function is

* sampled by Optuna (:class:`~spaces.TrialParams`: each call becomes a ``suggest_*`` call of the
  trial, define-by-run, so a parameter inside an inactive conditional scope is never sampled);
* rebuilt from a stored parameter dict (:class:`~spaces.FixedParams`, which checks each value
  against the range the call declares);
* described (:class:`~spaces.SpaceRecorder`, ``--show-space``);
* built at its defaults (:class:`~spaces.DefaultParams`: the ``default=`` of each call, else
  keras-tuner's default), as keras-tuner's own ``build_model(keras_tuner.HyperParameters())``.

It is the reverse of ``search.engines``' ``KerasTunerParams`` (a platform space sampled by
keras-tuner). How keras-tuner's ranges map to Optuna's distributions:

=================================================  =============================================
keras-tuner                                        Optuna
=================================================  =============================================
``Int(lo, hi)``, ``Int(lo, hi, step=s)``           ``suggest_int(lo, hi', step=s)``; ``hi'`` the
                                                   last value of the grid (keras-tuner's too)
``Int(lo, hi, sampling="log")``                    ``suggest_int(lo, hi, log=True)``
``Int/Float(lo, hi, step=f, sampling="log")``      ``suggest_categorical`` of ``lo * f**k <= hi``
                                                   (keras-tuner multiplies by the step on a log
                                                   scale; Optuna has no such distribution)
``Float(lo, hi[, step=s][, sampling="log"])``      ``suggest_float(lo, hi'[, step=s][, log=True])``
``Choice(values)``                                 ``suggest_categorical(values)`` (``ordered`` is
                                                   not used)
``Boolean()``                                      ``suggest_categorical([False, True])``
``Fixed(value)``                                   not sampled: the value, in ``values`` only
=================================================  =============================================

``sampling="reverse_log"`` has no Optuna counterpart and is refused. As in keras-tuner, a name
asked again returns its first value (a loop may ask ``hp.Choice("activation", ...)`` per layer),
and a parameter inside an inactive conditional scope is ``None``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

from spaces._params import (
    ChoiceParam,
    DefaultParams,
    FloatParam,
    IntParam,
    Param,
    ParamSource,
)

__all__ = ["HyperParameters"]

_MISSING = object()


class HyperParameters:
    """keras-tuner's ``HyperParameters`` API, answered by a :class:`~spaces.ParamSource`.

    Args:
        source: where values come from; None answers every call with its default (as a fresh
            ``keras_tuner.HyperParameters()`` does).

    Attributes:
        values: the active values of this build by name, ``Fixed`` ones included (keras-tuner's
            ``hp.values``).
        sampled: the values of the point's parameters (from the source, or the defaults), in the
            order they were asked, ``Fixed`` ones left out: what an Optuna trial stores.
    """

    def __init__(self, source: ParamSource | None = None) -> None:
        self.source: ParamSource = source if source is not None else DefaultParams()
        self.values: dict[str, Any] = {}
        self.sampled: dict[str, Any] = {}
        self._declared: dict[str, Param | None] = {}  # every name seen; None for Fixed
        self._conditions: list[tuple[str, list[Any]]] = []
        self._name_scopes: list[str] = []

    # --- keras-tuner's API --------------------------------------------------------------------

    def Int(
        self,
        name: str,
        min_value: int,
        max_value: int,
        step: int | None = None,
        sampling: str | None = "linear",
        default: int | None = None,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> int | None:
        """An integer in ``[min_value, max_value]`` (see the module docstring for ``step``)."""
        with self._maybe_conditional_scope(parent_name, parent_values):
            full = self._get_name(name)
            param = _int_param(full, min_value, max_value, step, sampling)
            value = self._retrieve(full, param, min_value if default is None else default)
            return None if value is None else int(value)

    def Float(
        self,
        name: str,
        min_value: float,
        max_value: float,
        step: float | None = None,
        sampling: str | None = "linear",
        default: float | None = None,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> float | None:
        """A float in ``[min_value, max_value]`` (see the module docstring for ``step``)."""
        with self._maybe_conditional_scope(parent_name, parent_values):
            full = self._get_name(name)
            param = _float_param(full, min_value, max_value, step, sampling)
            value = self._retrieve(full, param, min_value if default is None else default)
            return None if value is None else float(value)

    def Choice(
        self,
        name: str,
        values: Sequence[Any],
        ordered: bool | None = None,
        default: Any = None,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> Any:
        """One of ``values`` (ints, floats, strings or bools)."""
        with self._maybe_conditional_scope(parent_name, parent_values):
            full = self._get_name(name)
            choices = tuple(values)
            if not choices:
                raise ValueError(f"hp.Choice({full!r}) has no values")
            if default is None:
                default = None if None in choices else choices[0]
            return self._retrieve(full, ChoiceParam(full, choices), default)

    def Boolean(
        self,
        name: str,
        default: bool = False,
        parent_name: str | None = None,
        parent_values: Any = None,
    ) -> bool | None:
        """``True`` or ``False``."""
        with self._maybe_conditional_scope(parent_name, parent_values):
            full = self._get_name(name)
            value = self._retrieve(full, ChoiceParam(full, (False, True)), bool(default))
            return None if value is None else bool(value)

    def Fixed(
        self, name: str, value: Any, parent_name: str | None = None, parent_values: Any = None
    ) -> Any:
        """``value``, not searched (it is not a parameter of the trial)."""
        with self._maybe_conditional_scope(parent_name, parent_values):
            full = self._get_name(name)
            self._declared.setdefault(full, None)
            if not self._active():
                return None
            return self.values.setdefault(full, value)

    @contextlib.contextmanager
    def conditional_scope(self, parent_name: str, parent_values: Any) -> Iterator[None]:
        """Parameters created inside are active only while ``parent_name``'s value is one of
        ``parent_values``; an inactive one is not sampled and returns ``None``.

        Raises:
            ValueError: ``parent_name`` was not declared before (as in keras-tuner).
        """
        full = self._get_name(parent_name)
        if full not in self._declared:
            raise ValueError(f"`HyperParameter` named: {full} not defined.")
        accepted = (
            list(parent_values)
            if isinstance(parent_values, list | tuple | set)
            else [parent_values]
        )
        self._conditions.append((full, accepted))
        try:
            yield
        finally:
            self._conditions.pop()

    @contextlib.contextmanager
    def name_scope(self, name: str) -> Iterator[None]:
        """Prefix the names of the parameters created inside with ``name/``."""
        self._name_scopes.append(name)
        try:
            yield
        finally:
            self._name_scopes.pop()

    def get(self, name: str) -> Any:
        """The current value of parameter ``name``.

        Raises:
            ValueError: it was declared but is inactive.
            KeyError: it was never declared.
        """
        full = self._get_name(name)
        if full in self.values:
            return self.values[full]
        if full in self._declared:
            raise ValueError(f"{full} is currently inactive.")
        raise KeyError(f"{full} does not exist.")

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except (KeyError, ValueError):
            return False
        return True

    def is_active(self, name: str) -> bool:
        """Whether parameter ``name`` has a value in this build."""
        return self._get_name(name) in self.values

    @property
    def space(self) -> list[Param]:
        """The declared parameters as the platform's :data:`~spaces.Param` (``Fixed`` ones left out)."""
        return [p for p in self._declared.values() if p is not None]

    # --- internals ----------------------------------------------------------------------------

    def _get_name(self, name: str) -> str:
        return "/".join([*self._name_scopes, name]) if self._name_scopes else name

    def _maybe_conditional_scope(self, parent_name: str | None, parent_values: Any) -> Any:
        if parent_name:
            return self.conditional_scope(parent_name, parent_values)
        return contextlib.nullcontext()

    def _active(self) -> bool:
        return all(
            self.values.get(name, _MISSING) in accepted for name, accepted in self._conditions
        )

    def _retrieve(self, name: str, param: Param, default: Any) -> Any:
        """The value of ``param``: the first one given for ``name``, None while inactive."""
        self._declared.setdefault(name, param)
        if not self._active():
            return None
        if name in self.values:
            return self.values[name]
        if isinstance(self.source, DefaultParams):
            value = default
        else:
            value = self.source._get(param)
        self.values[name] = self.sampled[name] = value
        return value


def _sampling(name: str, sampling: str | None) -> bool:
    """Whether ``sampling`` is logarithmic."""
    kind = (sampling or "linear").lower()
    if kind == "reverse_log":
        raise ValueError(
            f"hp {name!r}: sampling='reverse_log' has no Optuna counterpart; use 'linear' or 'log'"
        )
    if kind not in ("linear", "log"):
        raise ValueError(f"hp {name!r}: sampling={sampling!r}, expected 'linear' or 'log'")
    return kind == "log"


def _geometric(name: str, low: float, high: float, factor: float) -> list[float]:
    """``low * factor**k`` up to ``high``: keras-tuner's grid for a step on a log scale."""
    if factor <= 1:
        raise ValueError(f"hp {name!r}: a step on a log scale is a factor and must exceed 1")
    values, k = [], 0
    while (v := low * factor**k) <= high * (1 + 1e-9):
        values.append(float(f"{v:.12g}"))
        k += 1
    return values


def _int_param(name: str, low: Any, high: Any, step: Any, sampling: str | None) -> Param:
    lo, hi = int(low), int(high)
    if lo > hi:
        raise ValueError(f"hp.Int({name!r}): min_value {lo} exceeds max_value {hi}")
    if _sampling(name, sampling):
        if lo <= 0:
            raise ValueError(f"hp.Int({name!r}): log sampling needs min_value > 0, not {lo}")
        if step is None or step == 1:
            return IntParam(name, lo, hi, 1, True)
        return ChoiceParam(name, tuple(round(v) for v in _geometric(name, lo, hi, step)))
    step = 1 if step is None else int(step)
    if step <= 0:
        raise ValueError(f"hp.Int({name!r}): step must be positive, not {step}")
    return IntParam(name, lo, lo + (hi - lo) // step * step, step, False)


def _float_param(name: str, low: Any, high: Any, step: Any, sampling: str | None) -> Param:
    lo, hi = float(low), float(high)
    if lo > hi:
        raise ValueError(f"hp.Float({name!r}): min_value {lo:g} exceeds max_value {hi:g}")
    if _sampling(name, sampling):
        if lo <= 0:
            raise ValueError(f"hp.Float({name!r}): log sampling needs min_value > 0, not {lo:g}")
        if step is None:
            return FloatParam(name, lo, hi, None, True)
        return ChoiceParam(name, tuple(_geometric(name, lo, hi, float(step))))
    if step is None:
        return FloatParam(name, lo, hi)
    step = float(step)
    if step <= 0:
        raise ValueError(f"hp.Float({name!r}): step must be positive, not {step:g}")
    k = (hi - lo) / step
    if abs(k - round(k)) > 1e-9:  # the grid's last value, as Optuna would round it down
        hi = float(f"{lo + math.floor(k) * step:.12g}")  # 0.9, not 0.8999999999999999
    return FloatParam(name, lo, hi, step)
