"""The Python API: :func:`tune` for notebooks and scripts; :func:`run`, which ``search.run`` calls."""

from search.api._tune import TuneResult, run, tune

__all__ = ["TuneResult", "run", "tune"]
