"""What a configuration would have measured: the nearest recorded configuration's curve.

The recorded benchmark (:mod:`benchmarks.curves`) holds a few hundred configurations of a family;
a search proposes points anywhere in the space. :class:`Surrogate` answers for any point with the
recorded configuration nearest to it: a one-nearest-neighbour surrogate, the simplest that never
invents a curve (every answer is a real training run). Distance, per parameter of the space:
numbers on their own scale (log where the space samples them on a log scale) divided by their
range, categories 0 when equal and 1 otherwise, and 1 for a parameter one point uses and the
other does not. Its limits: a point far from every record gets a curve of a different model;
the ``distance`` of each answer is kept so that a report can say how far the answers were.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.curves import CurveRecord

__all__ = ["Surrogate"]


@dataclass(frozen=True)
class _Scale:
    low: float
    high: float
    log: bool

    def unit(self, value: float) -> float:
        low, high, v = self.low, self.high, float(value)
        if self.log:
            low, high, v = math.log(low), math.log(high), math.log(max(v, 1e-300))
        return 0.0 if high == low else (v - low) / (high - low)


class Surrogate:
    """The recorded configurations of one family, answering for any point of its space.

    Args:
        records: the recorded configurations (any status).
        space_params: the space's parameters (``space.describe()``), for the scales.
    """

    def __init__(self, records: Sequence[CurveRecord], space_params: Mapping[str, Any]) -> None:
        if not records:
            raise ValueError("no recorded configurations")
        self.records = list(records)
        self._scales: dict[str, _Scale] = {}
        for name, param in space_params.items():
            low, high = getattr(param, "low", None), getattr(param, "high", None)
            if low is not None and high is not None:
                self._scales[name] = _Scale(float(low), float(high), bool(getattr(param, "log", False)))
        probes = sorted(r.probe_seconds for r in self.records if r.probe_seconds)
        #: the machine speed every record's seconds are rescaled to: the median probe
        self.reference_probe = probes[len(probes) // 2] if probes else None
        self._memo: dict[str, tuple[CurveRecord, float]] = {}
        self.by_params = {_key(r.params): r for r in self.records}
        self._names = sorted({n for r in self.records for n in r.params})
        self._codes: dict[str, dict[str, int]] = {}  # category codes, per parameter
        self._matrix = np.array([self._encode(r.params) for r in self.records])  # NaN: not used

    def _encode(self, params: Mapping[str, Any]) -> list[float]:
        """A point as numbers: numeric parameters in unit space, categories as codes, NaN where the
        point does not use the parameter (what :meth:`distance` compares, vectorised)."""
        row = []
        for name in self._names:
            if name not in params:
                row.append(math.nan)
                continue
            value, scale = params[name], self._scales.get(name)
            if scale is not None and not isinstance(value, bool) and isinstance(value, int | float):
                row.append(scale.unit(value))
            else:
                codes = self._codes.setdefault(name, {})
                row.append(float(codes.setdefault(repr(value), len(codes))))
        return row

    def time_scale(self, record: CurveRecord) -> float:
        """What ``record``'s seconds are multiplied by to be seconds of the reference machine: the
        reference probe over the probe measured when it was recorded (1 without probes)."""
        if not self.reference_probe or not record.probe_seconds:
            return 1.0
        return self.reference_probe / record.probe_seconds

    def distance(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
        """How far apart two points are (0: the same point)."""
        total = 0.0
        for name in set(a) | set(b):
            if name not in a or name not in b:
                total += 1.0
                continue
            x, y = a[name], b[name]
            scale = self._scales.get(name)
            if scale is not None and not isinstance(x, bool) and isinstance(x, int | float) and isinstance(y, int | float):
                total += abs(scale.unit(x) - scale.unit(y))
            else:
                total += 0.0 if x == y else 1.0
        return total

    def nearest(self, params: Mapping[str, Any]) -> tuple[CurveRecord, float]:
        """The recorded configuration nearest to ``params``, and its distance."""
        key = _key(params)
        if key in self._memo:
            return self._memo[key]
        exact = self.by_params.get(key)
        if exact is not None:
            found = (exact, 0.0)
        elif set(params) <= set(self._names):
            found = self._nearest_encoded(params)
        else:  # a parameter no record has: the plain loop
            found = min(((r, self.distance(params, r.params)) for r in self.records), key=lambda rd: rd[1])
        self._memo[key] = found
        return found

    def _nearest_encoded(self, params: Mapping[str, Any]) -> tuple[CurveRecord, float]:
        """:meth:`distance` to every record at once, on the encoded points."""
        point = np.array(self._encode_known(params))
        numeric = np.array([n in self._scales for n in self._names])
        m = self._matrix
        here, there = ~np.isnan(point), ~np.isnan(m)
        both = here & there
        diff = np.where(numeric, np.abs(m - point), (m != point).astype(float))
        d = np.where(both, diff, np.where(here ^ there, 1.0, 0.0)).sum(axis=1)
        i = int(np.argmin(d))
        return self.records[i], float(d[i])

    def _encode_known(self, params: Mapping[str, Any]) -> list[float]:
        """Like :meth:`_encode`, a category no record has getting a code of its own (-1)."""
        row = []
        for name in self._names:
            if name not in params:
                row.append(math.nan)
                continue
            value, scale = params[name], self._scales.get(name)
            if scale is not None and not isinstance(value, bool) and isinstance(value, int | float):
                row.append(scale.unit(value))
            else:
                row.append(float(self._codes.get(name, {}).get(repr(value), -1)))
        return row

    def best(self, metric: str = "test") -> float:
        """The best final accuracy any recorded configuration reached: its test accuracy at its
        best validation epoch (``metric="test"``), or its best validation accuracy."""
        scores = []
        for r in self.records:
            if r.status != "ok" or not r.val_accuracy:
                continue
            epoch = r.best_epoch or 0
            scores.append(r.test_accuracy[epoch] if metric == "test" and r.test_accuracy else max(r.val_accuracy))
        return max(scores)


def _key(params: Mapping[str, Any]) -> str:
    return repr(sorted((k, repr(v)) for k, v in params.items()))
