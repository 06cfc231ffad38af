"""Orchestration: check and open everything (prepare), run the trials in this process or in
``--workers`` processes, then build and evaluate the final model (finish)."""

from search.execution._prepare import METRIC_NAMES, Invocation, Prepared, check_workers, prepare
from search.execution._presets import enqueue_presets, presets_to_try
from search.execution._search import (
    enqueue_and_announce,
    finish_search,
    live_progress,
    make_clock,
    make_objective,
    run_search,
)
from search.execution._workers import run_workers, worker_threads

__all__ = [
    "METRIC_NAMES",
    "Invocation",
    "Prepared",
    "check_workers",
    "enqueue_and_announce",
    "enqueue_presets",
    "finish_search",
    "live_progress",
    "make_clock",
    "make_objective",
    "prepare",
    "presets_to_try",
    "run_search",
    "run_workers",
    "worker_threads",
]
