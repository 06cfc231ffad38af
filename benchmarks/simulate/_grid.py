"""One search of the simulator's grid, in whatever process runs it (spawned workers import this
module, not the command's ``__main__``)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

__all__ = ["FULL_TRAIN_IMAGES", "search_job"]

#: Fashion-MNIST's training images with the default 10 % validation split: a budget's unit
FULL_TRAIN_IMAGES = 54_000

def _load(curves: Path) -> tuple[Any, Any, str, float]:
    """The surrogate of a curve file, its data set (for the split sizes), family and best score."""
    import optuna

    from benchmarks.curves import load_curves
    from benchmarks.simulate import Surrogate
    from search.data import load_dataset
    from spaces import get_space

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    records = load_curves(curves)
    if not records:
        raise SystemExit(f"error: no recorded configurations in {curves}")
    family = records[0].family
    info = next(r.data for r in records if r.data)
    data = load_dataset(info.get("name", "fashion_mnist"), limit=info.get("limit"), seed=info.get("seed") or 0)
    surrogate = Surrogate(records, get_space(family).describe())
    return surrogate, data, family, surrogate.best()


def search_job(job: tuple[Path, float, float, int, str, int | None]) -> str:
    """One simulated search, as a results line (run in a worker process: loaded once per process);
    the job's last field is the validation split drawn (None: the recorded one)."""
    curves, speed, minutes, seed, method, validation_images = job
    global _LOADED
    if _LOADED is None or _LOADED[0] != curves:
        from benchmarks.simulate.__main__ import _methods

        _LOADED = (curves, _load(curves), _methods())
    _, (surrogate, data, family, best), methods = _LOADED
    unit = len(data.y_train) / FULL_TRAIN_IMAGES * 60.0
    start = time.perf_counter()
    outcome = methods[method](
        surrogate, data, family, budget=minutes * unit, seed=seed, speed=speed, validation_images=validation_images
    )
    row = {"family": family, "method": method, "speed": speed, "budget_minutes": minutes,
           "seed": seed, "best_recorded": best, "test_images": len(data.y_test),
           "validation_images": validation_images,
           "wall": round(time.perf_counter() - start, 3), **asdict(outcome)}  # fmt: skip
    return json.dumps(row)


_LOADED: Any = None


