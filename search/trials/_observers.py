"""Observers: what watches a search (console progress, MLflow) plugs in here, in one place each.

The objective calls every observer at the same points of a trial's life; an observer never
changes the search. A failing observer is logged and ignored, so tracking trouble never costs a
trial.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import optuna

from spaces import Candidate

__all__ = ["ObserverGroup", "TrialObserver", "TrialOutcome", "TrialStart"]

_log = logging.getLogger(__name__)


@dataclass
class TrialStart:
    """What is known when a trial starts training."""

    trial: optuna.trial.Trial
    family: str
    params: dict[str, Any]
    candidate: Candidate
    model: keras.Model
    epochs: int  # epochs it will run at most (the candidate's, capped by --max-epochs)
    preset: str | None = None


@dataclass
class TrialOutcome:
    """How a trial ended, as the observers see it."""

    trial: optuna.trial.Trial
    state: optuna.trial.TrialState  # COMPLETE, PRUNED or FAIL
    value: float | None  # best validation accuracy, when complete
    metrics: dict[str, float] = field(default_factory=dict)  # its MLflow run's final metrics (TrialRecord.metrics)
    history: dict[str, list[float]] = field(default_factory=dict)  # per-epoch logs
    error: str | None = None  # reason of a failure
    pruned_epoch: int | None = None  # 1-based epoch after which it was pruned
    model: keras.Model | None = None  # the trained model (best-epoch weights), when complete


class TrialObserver:
    """Base class: override the hooks you need. All hooks default to doing nothing."""

    #: what the observer does, for the warning and the summary when it fails (e.g. "MLflow logging")
    name = ""

    def on_search_start(self, study: optuna.Study) -> None:
        """Before the first trial of this invocation."""

    def on_trial_start(self, start: TrialStart) -> None:
        """After the model is built, before training."""

    def on_batch_end(self, trial: optuna.trial.Trial, epoch: int, batch: int, batches: int | None) -> None:
        """After every training batch: ``batch`` of ``batches`` (1-based; None: not known) of the
        0-based ``epoch``. Called often: keep it cheap."""

    def on_epoch_end(self, trial: optuna.trial.Trial, epoch: int, logs: dict[str, float]) -> None:
        """After every epoch (0-based ``epoch``), with Keras' logs (losses, accuracies, lr, time)."""

    def on_trial_end(self, outcome: TrialOutcome) -> None:
        """When a trial completed, was pruned or failed (before Optuna stores its state)."""

    def on_search_end(self, study: optuna.Study, summary: Any) -> None:
        """After the last trial and the final evaluation (``summary`` is a ``SearchSummary``)."""


class ObserverGroup(TrialObserver):
    """Fans every hook out to several observers, isolating their failures.

    An observer's first failure is one warning line (the traceback is logged at debug level) and
    is kept in :attr:`lost`, for the summary; the search goes on, and so do the observer's later
    calls (a tracking server may come back), quietly.
    """

    def __init__(self, observers: Sequence[TrialObserver]) -> None:
        self.observers = list(observers)
        #: the first error of each observer that failed, by its name
        self.lost: dict[str, str] = {}

    def _each(self, hook: str, *args: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, hook)(*args)
            except Exception as exc:  # an observer must never cost a trial
                name = observer.name or type(observer).__name__
                first = " ".join(str(exc).split())[:300] or type(exc).__name__
                if name not in self.lost:
                    self.lost[name] = f"{type(exc).__name__}: {first}"
                    _log.warning(
                        "%s failed (%s: %s); the search goes on without it", name, type(exc).__name__, first
                    )
                _log.debug("%s.%s failed", type(observer).__name__, hook, exc_info=exc)

    def on_search_start(self, study: optuna.Study) -> None:
        self._each("on_search_start", study)

    def on_trial_start(self, start: TrialStart) -> None:
        self._each("on_trial_start", start)

    def on_batch_end(self, trial: optuna.trial.Trial, epoch: int, batch: int, batches: int | None) -> None:
        self._each("on_batch_end", trial, epoch, batch, batches)

    def on_epoch_end(self, trial: optuna.trial.Trial, epoch: int, logs: dict[str, float]) -> None:
        self._each("on_epoch_end", trial, epoch, logs)

    def on_trial_end(self, outcome: TrialOutcome) -> None:
        self._each("on_trial_end", outcome)

    def on_search_end(self, study: optuna.Study, summary: Any) -> None:
        self._each("on_search_end", study, summary)
