"""Choosing the best configuration when the validation split is too small to tell (``--cv``).

A search ranks its trials by their accuracy on the validation images. The standard error of an
accuracy ``p`` measured on ``n`` images is ``sqrt(p (1 - p) / n)``: 0.004 on Fashion-MNIST's 6,000
validation images, but 0.025 on 144 images (a user's folder of 1,437), where the best trial's
lead is usually noise. There, the finalists (the complete trials within
:data:`FINALIST_ERRORS` standard errors of the best, at most :data:`MAX_FINALISTS`) are trained
again on K stratified folds of the training and validation images together, each for the epochs
its refit would train, and scored on the fold it did not see. The finalist with the best mean fold
accuracy is the study's choice: the refit, the ensemble and the test evaluation use it.

The folds run as Optuna's documents advise for cross-validation with
:class:`optuna.pruners.WilcoxonPruner`: an in-memory study whose trials are the finalists, each
reporting one fold's accuracy per step (the fold's index, so folds pair up across finalists). The
validation best runs first, on every fold; a later finalist that the signed-rank test finds
worse than the best so far (p < :data:`P_THRESHOLD`) stops before its last folds.

The folds fit in the search's clock: each is predicted from its trial's measured seconds per epoch
(scaled to the fold's images, then to the speed measured on the folds already run), a finalist
starts only when all its folds fit before the time the refit needs, and a fold still training at
that time stops. :func:`crossval_reserve` tells the search how much time to leave for it.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState
from sklearn.model_selection import StratifiedKFold

from search.core import check_cv
from search.data import Dataset
from search.final._refit import plan_refit
from search.policy import DEFAULT_TIME_POLICY
from search.records import TrialRecord
from search.training import StopAt, fit_candidate, prepare_model
from spaces import SearchSpace

__all__ = [
    "FOLDS",
    "MODEL_CHOICE_ATTR",
    "SMALL_VALIDATION",
    "FinalistScore",
    "ModelChoice",
    "choose_model",
    "crossval_reserve",
    "crossvalidate",
    "cv_folds",
    "finalists",
]

_log = logging.getLogger("search")

#: ``--cv auto`` cross-validates when the validation split has fewer images than this. At 2,000
#: images one standard error of an accuracy near 0.9 is sqrt(0.09 / 2000) = 0.007 (0.009 for the
#: difference of two trials), under the point of accuracy that separates good configurations;
#: below it the noise passes that point (0.025 on 144 images). Above it, K trainings per finalist
#: would also cost more than the choice gains.
SMALL_VALIDATION = 2000

#: folds of ``--cv auto``
FOLDS = 5

#: at most this many finalists are cross-validated (the best first)
MAX_FINALISTS = 5

#: a complete trial within this many standard errors of the best validation accuracy is a finalist
FINALIST_ERRORS = 2.0

#: the Wilcoxon signed-rank test's threshold (Optuna's default): a finalist stops once it is worse
#: than the best so far at this p-value; with 5 folds that takes 4 folds all worse (p = 1/16)
P_THRESHOLD = 0.1

#: the study user attribute recording how the best configuration was chosen (:meth:`ModelChoice.attr`)
MODEL_CHOICE_ATTR = "model_choice"


def cv_folds(cv: int | str, validation_images: int) -> int | None:
    """The folds ``--cv`` asks for with this many validation images (None: choose on validation).

    Raises:
        UsageError: ``cv`` is not auto, off or a number of folds (:func:`~search.core.check_cv`).
    """
    cv = check_cv(cv)
    if cv == "off":
        return None
    if cv == "auto":
        return FOLDS if validation_images < SMALL_VALIDATION else None
    return int(cv)


def standard_error(accuracy: float, images: int) -> float:
    """The standard error of an accuracy measured on ``images`` images; the accuracy is smoothed
    as (correct + 1) / (images + 2), so that a perfect score still has an error."""
    p = (accuracy * images + 1) / (images + 2)
    return math.sqrt(p * (1 - p) / max(images, 1))


def _trainable(trial: FrozenTrial, data: Dataset) -> bool:
    return plan_refit(trial, data) is not None


def finalists(study: optuna.Study, data: Dataset, *, needs_model: bool = False) -> list[FrozenTrial]:
    """The complete trials worth cross-validating, the validation best first.

    They are within :data:`FINALIST_ERRORS` standard errors of the best validation accuracy, at
    most :data:`MAX_FINALISTS`, one per configuration, and recorded their pace and best epoch.
    Empty when the best itself cannot be cross-validated.

    Args:
        study: a single-objective study.
        data: the data set (its validation images set the standard error).
        needs_model: only trials that kept their model (no refit will train the chosen one).
    """
    complete = study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])
    ranked = sorted(complete, key=lambda t: (-t.values[0], t.number))
    if not ranked or not _trainable(ranked[0], data):
        return []
    floor = ranked[0].values[0] - FINALIST_ERRORS * standard_error(ranked[0].values[0], len(data.y_val))
    chosen: list[FrozenTrial] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for trial in ranked:
        key = tuple(sorted((k, repr(v)) for k, v in trial.params.items()))
        if trial.values[0] < floor or len(chosen) == MAX_FINALISTS:
            break
        if key in seen or not _trainable(trial, data):
            continue
        if needs_model and chosen and not TrialRecord.of(trial).model_artifact_id:
            continue
        seen.add(key)
        chosen.append(trial)
    return chosen


def _fold_seconds(trial: FrozenTrial, data: Dataset, folds: int) -> float:
    """The expected seconds of one fold of ``trial``: its refit's (all labelled images, with the
    margin), for the (K-1)/K of them a fold trains on."""
    plan = plan_refit(trial, data)
    assert plan is not None
    return plan.seconds * (folds - 1) / folds


def _refit_time(trials: Sequence[FrozenTrial], data: Dataset, budget: float | None) -> float:
    """The time to leave for refitting whichever of ``trials`` is chosen (the longest of them),
    capped as :func:`~search.final.refit_reserve` caps it."""
    plans = [plan_refit(t, data) for t in trials]
    seconds = max((p.seconds for p in plans if p is not None), default=0.0)
    return DEFAULT_TIME_POLICY.reserve(seconds, budget)


def crossval_reserve(
    study: optuna.Study,
    data: Dataset,
    *,
    cv: int | str,
    budget: float | None,
    refit_seconds: float = 0.0,
    needs_model: bool = False,
) -> float:
    """Seconds the search leaves for cross-validating its finalists so far: every fold of each,
    at the pace its trial measured, for the validation best and as many others as fit.

    With the refit's ``refit_seconds`` it is at most the policy's ``max_refit_share`` of ``budget`` (None:
    no cap), so the search keeps the rest on any machine and the refit comes first. It is 0 when
    ``cv`` does not ask for cross-validation, or when not even two finalists would fit: time the
    search would lose for a choice cross-validation could not make.
    """
    folds = cv_folds(cv, len(data.y_val))
    if folds is None:
        return 0.0
    costs = [folds * _fold_seconds(t, data, folds) for t in finalists(study, data, needs_model=needs_model)]
    cap = math.inf if budget is None else DEFAULT_TIME_POLICY.max_refit_share * budget - refit_seconds
    if len(costs) < 2 or costs[0] > cap:
        return 0.0
    total, compared = costs[0], 0
    for cost in costs[1:]:  # as :func:`crossvalidate` runs them: a finalist that does not fit is skipped
        if total + cost <= cap:
            total, compared = total + cost, compared + 1
    return total if compared else 0.0


@dataclass(frozen=True)
class FinalistScore:
    """One finalist's cross-validation."""

    trial: int  # the search's trial number
    validation_accuracy: float  # what the search measured on the validation split
    fold_accuracies: dict[int, float]  # held-out accuracy by fold index, of the folds it ran
    state: str  # "complete" (every fold), "pruned" (Wilcoxon), "cut" (the clock), "skipped" (no
    # time to start), "failed" (a fold raised or diverged)
    seconds: float = 0.0  # wall time of its folds

    @property
    def mean(self) -> float:
        """Mean accuracy over the folds it ran (nan: none)."""
        return float(np.mean(list(self.fold_accuracies.values()))) if self.fold_accuracies else math.nan

    @property
    def sd(self) -> float:
        """Standard deviation of its fold accuracies (0 with fewer than two)."""
        values = list(self.fold_accuracies.values())
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class ModelChoice:
    """How the best configuration was chosen, and on how many images."""

    trial: int  # the chosen trial
    validation_best: int  # the trial with the best validation accuracy
    validation_images: int
    folds: int = 0  # K of the cross-validation that chose it; 0: chosen on validation alone
    images: int = 0  # the images the folds divide (training + validation)
    finalists: tuple[FinalistScore, ...] = field(default=())
    cut: bool = False  # the clock stopped a finalist or kept one from starting
    note: str = ""  # why validation alone chose, when cross-validation was asked for

    @property
    def by_crossval(self) -> bool:
        """Cross-validation chose (not validation alone)."""
        return self.folds > 0

    def describe(self) -> str:
        """One line for the summary; with cross-validation, the chosen trial's mean fold accuracy
        ± its standard deviation over the folds."""
        if not self.by_crossval:
            why = f" ({self.note})" if self.note else ""
            return f"best chosen on {self.validation_images:,} validation images{why}"
        winner = next(f for f in self.finalists if f.trial == self.trial)
        line = (
            f"best chosen by {self.folds}-fold cross-validation over {self.images:,} images "
            f"({len(self.finalists)} finalists; trial {self.trial}: {winner.mean:.3f} ± {winner.sd:.3f}"
        )
        if self.trial != self.validation_best:
            line += f"; on the {self.validation_images:,} validation images alone, trial {self.validation_best}"
        stopped = sum(f.state in ("cut", "skipped") for f in self.finalists)
        return line + (f"; {stopped} cut by the time budget)" if stopped else ")")

    def attr(self) -> dict[str, Any]:
        """What the study records (:data:`MODEL_CHOICE_ATTR`)."""
        return {
            "trial": self.trial,
            "validation_best": self.validation_best,
            "validation_images": self.validation_images,
            "method": "cross-validation" if self.by_crossval else "validation",
            "folds": self.folds,
            "images": self.images,
            "cut": self.cut,
            "note": self.note,
            "finalists": [
                {
                    "trial": f.trial,
                    "validation_accuracy": f.validation_accuracy,
                    "state": f.state,
                    "folds_run": len(f.fold_accuracies),
                    "mean": None if math.isnan(f.mean) else round(f.mean, 5),
                    "sd": round(f.sd, 5),
                    "fold_accuracies": {str(k): round(v, 5) for k, v in f.fold_accuracies.items()},
                    "seconds": round(f.seconds, 1),
                }
                for f in self.finalists
            ],
        }


@dataclass
class _Pace:
    """Predicts a fold's seconds: a finalist's own folds once it ran some, else its trial's pace
    times how fast the folds run so far went against their trials' pace."""

    data: Dataset
    folds: int
    measured: float = 0.0  # seconds of the folds run
    predicted: float = 0.0  # what their trials' pace predicted for them (without the margin)

    def base(self, trial: FrozenTrial) -> float:
        return _fold_seconds(trial, self.data, self.folds) / DEFAULT_TIME_POLICY.refit_safety

    def fold(self, trial: FrozenTrial, own: Sequence[float]) -> float:
        if own:
            return float(np.mean(own)) * DEFAULT_TIME_POLICY.refit_safety
        ratio = self.measured / self.predicted if self.predicted > 0 else 1.0
        return self.base(trial) * ratio * DEFAULT_TIME_POLICY.refit_safety

    def ran(self, trial: FrozenTrial, seconds: float) -> None:
        self.measured += seconds
        self.predicted += self.base(trial)


class _Folds:
    """The folds of one cross-validation, and the in-memory study its finalists are trials of."""

    def __init__(
        self, space: SearchSpace, data: Dataset, folds: int, *, end: float | None, seed: int | None, jit: bool
    ) -> None:
        self.space, self.data, self.folds, self.end, self.jit = space, data, folds, end, jit
        self.seed = seed or 0
        self.x = np.concatenate([data.x_train, data.x_val])
        self.y = np.concatenate([data.y_train, data.y_val])
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        self.pairs = list(splitter.split(np.zeros(len(self.y)), self.y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            pruner = optuna.pruners.WilcoxonPruner(p_threshold=P_THRESHOLD)
        self.study = optuna.create_study(direction="maximize", pruner=pruner)
        self.pace = _Pace(data, folds)
        self.rng = np.random.default_rng(self.seed)

    def fits(self, seconds: float) -> bool:
        """``seconds`` from now is before the end."""
        return self.end is None or time.monotonic() + seconds <= self.end

    def finalist(self, trial: FrozenTrial) -> FinalistScore:
        """One finalist, fold after fold (in a random order, as Optuna's documents advise), as one
        trial of :attr:`study` reporting each fold's accuracy at the step of the fold's index."""
        plan = plan_refit(trial, self.data)
        assert plan is not None
        run = self.study.ask()
        TrialRecord(trial=trial.number).write(run)
        accuracies: dict[int, float] = {}
        own: list[float] = []
        state = "complete"
        for index in (int(i) for i in self.rng.permutation(self.folds)):
            if not self.fits(self.pace.fold(trial, own)):
                state = "cut"
                break
            start = time.monotonic()
            try:
                accuracy, stopped = self.fold(trial, index, plan.epochs)
            except Exception as exc:  # a diverging loss, say: this finalist cannot be scored
                _log.warning("cross-validation of trial %d, fold %d: %s", trial.number, index + 1, exc)
                state = "failed"
                break
            if stopped:
                state = "cut"
                break
            own.append(time.monotonic() - start)
            self.pace.ran(trial, own[-1])
            accuracies[index] = accuracy
            run.report(accuracy, index)
            if len(accuracies) < self.folds and run.should_prune():
                state = "pruned"
                break
        if state == "complete":
            self.study.tell(run, float(np.mean(list(accuracies.values()))))
        else:
            self.study.tell(run, state=TrialState.PRUNED if state == "pruned" else TrialState.FAIL)
        score = FinalistScore(trial.number, trial.values[0], accuracies, state, sum(own))
        _log.info(
            "cross-validation of trial %d: %s, mean %.3f over %d of %d folds%s",
            trial.number, ", ".join(f"{v:.3f}" for v in accuracies.values()) or "no fold", score.mean,
            len(accuracies), self.folds, _STATE_NOTES[state],
        )  # fmt: skip
        return score

    def fold(self, trial: FrozenTrial, index: int, epochs: int) -> tuple[float, bool]:
        """The held-out accuracy of ``trial``'s configuration trained ``epochs`` epochs on fold
        ``index``, and whether the end stopped it. Every finalist starts a fold from the same seed."""
        train, held = self.pairs[index]
        x, y, data = self.x, self.y, self.data
        fold = Dataset(
            name=f"{data.name} fold {index + 1}/{self.folds}", class_names=data.class_names,
            x_train=x[train], y_train=y[train], x_val=x[held], y_val=y[held], x_test=data.x_test, y_test=data.y_test,
        )  # fmt: skip
        keras.utils.set_random_seed(self.seed + index)
        candidate = self.space.from_params(trial.params)
        model = prepare_model(self.space, candidate, fold, jit=self.jit)
        stop = StopAt(self.end)
        result = fit_candidate(self.space, candidate, fold, max_epochs=epochs, callbacks=[stop], model=model)
        return float(result.history["val_accuracy"][-1]), stop.stopped


#: how the log line of a finalist's cross-validation ends, by its state
_STATE_NOTES = {
    "complete": "",
    "pruned": " (stopped: worse than the best so far)",
    "cut": " (cut by the time budget)",
    "failed": " (failed)",
}


def crossvalidate(
    trials: Sequence[FrozenTrial],
    space: SearchSpace,
    data: Dataset,
    *,
    folds: int,
    end: float | None = None,
    seed: int | None = None,
    jit: bool = False,
) -> list[FinalistScore]:
    """Train each of ``trials`` (the reference first) on ``folds`` stratified folds of the
    training and validation images; score each on the fold it did not train on.

    Each trial trains for its refit's epochs (with :func:`~search.training.fit_candidate`, so its
    learning-rate schedule spans them), and the held-out fold's accuracy after the last epoch is
    its score. After each fold, a Wilcoxon signed-rank test against the best finalist so far
    stops a clearly worse one.

    Args:
        trials: the finalists, the one to compare with first (:func:`finalists`).
        space: their family.
        data: the data set (its test split is not touched).
        folds: K.
        end: no fold trains past this ``time.monotonic`` time (None: no limit). A finalist starts
            only if all its folds are predicted to end by then, a fold only if it is; without the
            first finalist's every fold, none of the others runs.
        seed: the folds' split and, fold by fold, every finalist's initial weights (the same
            for all finalists, so they are compared on equal terms); None: 0.
        jit: compile the training step with XLA.

    Returns:
        One score per trial, in the order given.
    """
    cv = _Folds(space, data, folds, end=end, seed=seed, jit=jit)
    scores: list[FinalistScore] = []
    for trial in trials:
        reference = scores[0] if scores else None
        if reference is not None and reference.state != "complete":
            scores.append(FinalistScore(trial.number, trial.values[0], {}, "skipped"))  # nothing to compare with
        elif not cv.fits(needed := folds * cv.pace.fold(trial, ())):
            _log.info(
                "cross-validation of trial %d: no time (its %d folds need about %.0fs, %.0fs left)",
                trial.number, folds, needed, max(0.0, (end or 0.0) - time.monotonic()),
            )  # fmt: skip
            scores.append(FinalistScore(trial.number, trial.values[0], {}, "skipped"))
        else:
            scores.append(cv.finalist(trial))
    return scores


def choose_model(
    study: optuna.Study,
    best: FrozenTrial,
    space: SearchSpace,
    data: Dataset,
    *,
    cv: int | str,
    end: float | None = None,
    budget: float | None = None,
    refit: bool = False,
    seed: int | None = None,
    jit: bool = False,
    needs_model: bool = False,
) -> tuple[FrozenTrial, ModelChoice]:
    """The trial whose configuration is the final one, and how it was chosen (recorded in the
    study's :data:`MODEL_CHOICE_ATTR`).

    With a small validation split (or ``--cv K``) and at least two finalists, cross-validation
    chooses; else ``best``, the validation best.

    Args:
        study: a single-objective study.
        best: its trial with the best validation accuracy.
        space: its family.
        data: the data set.
        cv: ``--cv``: ``"auto"``, ``"off"`` or K.
        end: when the invocation must be done (``time.monotonic``; None: no limit).
        budget: ``--timeout`` in seconds (None: none), which caps the refit's share.
        refit: ``--refit``: the time the refit of the chosen trial needs is left before ``end``.
        seed: ``--seed``.
        jit: compile the training steps with XLA.
        needs_model: only finalists that kept their model (the chosen trial's own model will be
            the final one).
    """
    n_val = len(data.y_val)
    folds = cv_folds(cv, n_val)
    choice = ModelChoice(best.number, best.number, n_val)
    if folds is not None:
        close = finalists(study, data, needs_model=needs_model)
        folds = min(folds, int(np.bincount(np.concatenate([data.y_train, data.y_val])).min()))
        note = (
            "too few images per class for cross-validation" if folds < 2
            else "the best trial recorded no pace to cross-validate it by" if not close
            else "no other trial within two standard errors" if len(close) < 2
            else ""
        )  # fmt: skip
        if note:
            choice = ModelChoice(best.number, best.number, n_val, note=note)
        else:
            cv_end = None if end is None else end - (_refit_time(close, data, budget) if refit else 0.0)
            choice = _crossval_choice(best, close, space, data, folds=folds, end=cv_end, seed=seed, jit=jit)
    study.set_user_attr(MODEL_CHOICE_ATTR, choice.attr())  # the summary says how it chose
    chosen = [t for t in study.get_trials(deepcopy=False, states=[TrialState.COMPLETE]) if t.number == choice.trial]
    return (chosen[0] if chosen else best), choice


def _crossval_choice(
    best: FrozenTrial, close: list[FrozenTrial], space: SearchSpace, data: Dataset, *, folds: int,
    end: float | None, seed: int | None, jit: bool,
) -> ModelChoice:  # fmt: skip
    """Cross-validate the finalists ``close`` (``end``: when the last fold must be done)."""
    n_val, images = len(data.y_val), len(data.y_val) + len(data.y_train)
    _log.info(
        "choosing among %d finalists (trials %s: within %.0f standard errors of the best on %d "
        "validation images) by %d-fold cross-validation over %d images",
        len(close), ", ".join(str(t.number) for t in close), FINALIST_ERRORS, n_val, folds, images,
    )  # fmt: skip
    scores = tuple(crossvalidate(close, space, data, folds=folds, end=end, seed=seed, jit=jit))
    cut = any(s.state in ("cut", "skipped") for s in scores)
    complete = [s for s in scores if s.state == "complete"]
    if not complete:
        note = "no time for cross-validation" if cut else "cross-validation failed"
        return ModelChoice(best.number, best.number, n_val, finalists=scores, cut=cut, note=note)
    winner = max(complete, key=lambda s: s.mean)  # the first of equals: the better on validation
    return ModelChoice(winner.trial, best.number, n_val, folds, images, scores, cut)
