"""What a person reads while the study runs: one line per finished trial."""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.training import TOO_SLOW
from search.trials._records import CANNOT_BE_BUILT

__all__ = ["ProgressPrinter", "format_value", "trial_line"]

_log = logging.getLogger("search")

#: shown for every trial, when sampled: the knobs every family shares
_KEY_PARAMS = ("optimizer", "learning_rate", "batch_size")


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2e}" if value and abs(value) < 1e-2 else f"{value:.3g}"
    return str(value)


def trial_line(trial: FrozenTrial, best: float | None) -> str:
    """``trial 7  complete  val_acc 0.9012 (best 0.9102)  10 epochs  45.2s  306,906 params  adam lr=1e-3 batch=128``."""
    attrs = trial.user_attrs
    head = f"trial {trial.number:>3}"
    if attrs.get("preset"):
        head += f" [{attrs['preset']}]"
    acc = attrs.get("val_accuracy")
    parts = [head]
    if trial.state == TrialState.COMPLETE:
        parts.append("complete")
    elif trial.state == TrialState.PRUNED:
        reason = attrs.get("pruned_reason", "")
        if reason.startswith(CANNOT_BE_BUILT):
            parts.append(f"pruned: {reason}")
        else:
            why = " (time budget)" if "time budget" in reason else ""
            if reason.startswith(TOO_SLOW):
                why = f" ({TOO_SLOW})"
            parts.append(f"pruned at epoch {attrs.get('pruned_epoch', '?')}{why}")
    else:
        state = "failed" if trial.state == TrialState.FAIL else trial.state.name.lower()
        parts.append(f"{state}: {attrs.get('fail_reason', 'no reason recorded')}")
    if isinstance(acc, float):
        parts.append(f"val_acc {acc:.4f}" + (f" (best {best:.4f})" if best is not None else ""))
    if trial.state == TrialState.COMPLETE:
        budget = " (time budget)" if attrs.get("stopped_by_time_budget") else ""
        parts.append(f"{attrs.get('epochs_run', '?')} epochs{budget}")
    if "training_seconds" in attrs:
        parts.append(f"{attrs['training_seconds']:.1f}s")
    if "param_count" in attrs:
        parts.append(f"{attrs['param_count']:,} params")
    params = trial.params
    knobs = [f"{k}={format_value(params[k])}" for k in _KEY_PARAMS if k in params]
    return "  ".join(parts + knobs)


class ProgressPrinter:
    """Optuna study callback that logs one line per finished trial."""

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        best = None
        if len(study.directions) == 1:
            try:
                best = study.best_value
            except ValueError:
                best = None
        _log.info("%s", trial_line(trial, best))
