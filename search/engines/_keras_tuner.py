"""keras-tuner as a second search engine over the same spaces, recorded like the Optuna engine.

keras-tuner chooses the values (its Hyperband, Bayesian optimisation or random search oracle);
everything else is the platform's: the space module samples through :class:`KerasTunerParams`
(the same ``Space.sample`` as with an Optuna trial), and every keras-tuner trial becomes an
Optuna trial of its own study (``<family>-<dataset>-kt-<tuner>``), queued with keras-tuner's
values (``study.enqueue_trial`` then ``study.ask``), trained by the same :class:`~search.trials.Objective` with the
same observers. So MLflow, optuna-dashboard, ``search.compare`` and ``search.report`` see the
two engines' studies side by side, and the summary and the test evaluation are the same.

Hyperband's promoted trials continue, as keras-tuner's own ``Hyperband`` tuner does: a trial that
keras-tuner promotes to the next round of its bracket (``tuner/trial_id``) starts from the model
its previous round trained (the weights of its best epoch, with the optimizer's state) at epoch
``tuner/initial_epoch``, instead of training from scratch.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import keras_tuner as kt
import optuna

from search.compat import keras_tuner_debug
from search.core import SearchClock
from search.execution import (
    Prepared,
    enqueue_and_announce,
    finish_search,
    make_clock,
    make_objective,
    presets_to_try,
)
from search.final import SearchSummary
from search.records import TrialRecord
from search.training import Checkpoints, Resume, use_precision
from search.trials import (
    Objective,
    ObserverGroup,
    OptunaArtifacts,
    ProgressPrinter,
    TrialObserver,
    TrialOutcome,
)
from spaces import FloatParam, IntParam, Param, ParamSource, SearchSpace

__all__ = ["KerasTunerParams", "run_keras_tuner"]

_log = logging.getLogger("search")

class KerasTunerParams(ParamSource):
    """A space's parameters from keras-tuner's ``HyperParameters``, remembering which it asked for.

    Args:
        hp: the trial's hyperparameters; asking registers a parameter with keras-tuner.
    """

    def __init__(self, hp: kt.HyperParameters) -> None:
        self.hp = hp
        self.asked: dict[str, Param] = {}
        self.values: dict[str, Any] = {}  # what the space was given, by name

    def _get(self, param: Param) -> Any:
        self.asked[param.name] = param
        if isinstance(param, IntParam):
            # keras-tuner's step on a log scale is a factor: no step there
            step = None if param.log else param.step
            sampling = "log" if param.log else "linear"
            value = self.hp.Int(param.name, param.low, param.high, step=step, sampling=sampling)
            if step is None and value == param.high + 1:
                # keras-tuner 1.4's Bayesian oracle optimises up to its bound, probability 1.0,
                # where Int.prob_to_value (written for [0, 1)) gives max_value + 1; the point
                # would fail, the GP never learns from failures, and it would be proposed again
                value = param.high
        elif isinstance(param, FloatParam):
            sampling = "log" if param.log else "linear"
            value = self.hp.Float(param.name, param.low, param.high, step=param.step, sampling=sampling)
        elif set(param.choices) == {False, True} and all(isinstance(c, bool) for c in param.choices):
            value = self.hp.Boolean(param.name)  # keras-tuner's Choice would hand back 0 and 1
        else:
            value = self.hp.Choice(param.name, list(param.choices))
        self.values[param.name] = param.check(value)  # plain Python values, in range
        return self.values[param.name]


class _SpaceHyperModel(kt.HyperModel):
    """The space as keras-tuner's ``HyperModel`` (used by keras-tuner to discover the space)."""

    def __init__(self, space: SearchSpace, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__(name=space.name)
        self.space, self.input_shape, self.num_classes = space, input_shape, num_classes

    def declare_hyperparameters(self, hp: kt.HyperParameters) -> None:
        """Declare every parameter the space can ask for, conditional ones included.

        keras-tuner otherwise learns a define-by-run space from the builds it sees, so a branch
        first taken in trial k (the fourth block's filters, say) would get keras-tuner's default
        value until then. Declared up front, the oracle chooses them all from the first trial;
        the space's own control flow decides which of them a trial uses.
        """
        source = KerasTunerParams(hp)
        for param in self.space.describe().values():
            source._get(param)

    def build(self, hp: kt.HyperParameters) -> Any:
        candidate = self.space.sample(KerasTunerParams(hp))
        use_precision()  # keras-tuner's clear_session before each build reset the policy
        model = self.space.build_model(candidate, self.input_shape, self.num_classes)
        self.space.compile(model, candidate)
        return model


class _RoundModels(TrialObserver):
    """Keeps the model of each complete keras-tuner trial that Hyperband may promote (one that
    trained fewer than ``max_epochs``), for the trial of the next round that continues it.

    Args:
        folder: where the models go, ``<keras-tuner directory>/<study>/round_models``.
        max_epochs: a trial that trained for this many epochs is at its bracket's last round.
    """

    name = "keras-tuner round models"

    def __init__(self, folder: Path, max_epochs: int) -> None:
        self.folder, self.max_epochs = folder, max_epochs

    def path(self, keras_tuner_trial: str) -> Path:
        return self.folder / f"{keras_tuner_trial}.keras"

    def history_path(self, keras_tuner_trial: str) -> Path:
        return self.folder / f"{keras_tuner_trial}.json"

    def on_trial_end(self, outcome: TrialOutcome) -> None:
        record = TrialRecord.of(outcome.trial)
        kt_trial, epochs = record.keras_tuner_trial, record.keras_tuner_epochs
        if outcome.model is None or kt_trial is None or epochs is None or int(epochs) >= self.max_epochs:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{kt_trial}.tmp.keras"
        outcome.model.save(tmp)
        tmp.replace(self.path(str(kt_trial)))
        self.history_path(str(kt_trial)).write_text(
            json.dumps({"trial": outcome.trial.number, "history": outcome.history})
        )


class _Continuing(Checkpoints):
    """The checkpoints of a promoted Hyperband trial: a retry of it resumes from its own
    checkpoints as usual; otherwise it starts from the model of the trial it continues, at
    ``epoch`` (keras-tuner's ``tuner/initial_epoch``)."""

    def __init__(self, base: Checkpoints, model_file: Path, history_file: Path, epoch: int) -> None:
        super().__init__(base.folder)
        self.model_file, self.history_file, self.epoch = model_file, history_file, epoch

    def restore(self, trial: optuna.trial.Trial) -> Resume | None:
        resume = super().restore(trial)
        if resume is not None:
            return resume
        try:
            import keras

            keras.backend.clear_session()
            model = keras.models.load_model(self.model_file)
            meta = json.loads(self.history_file.read_text())
        except Exception as exc:  # noqa: BLE001 - a missing or unreadable model: it trains from scratch
            _log.warning("trial %d starts from scratch: the model it continues is unusable (%s)", trial.number, exc)
            return None
        history = {k: list(v)[: self.epoch] for k, v in (meta.get("history") or {}).items()}
        return Resume(self.epoch, model, int(meta["trial"]), history)


class _BudgetSpent(kt.errors.FatalError):
    """Raised before a trial starts when the invocation's trials or time are used up."""


class _PlatformTuner(kt.Tuner):
    """A keras-tuner ``Tuner`` whose trials are the platform's trials (see the module docstring).

    Only :meth:`run_trial` is overridden — keras-tuner's documented extension point.
    """

    def __init__(
        self,
        oracle: kt.Oracle,
        hypermodel: _SpaceHyperModel,
        *,
        study: optuna.Study,
        objective: Objective,
        n_trials: int | None,
        clock: SearchClock,
        directory: str,
        project_name: str,
        round_models: _RoundModels | None = None,
        dataset: str | None = None,
    ) -> None:
        super().__init__(oracle=oracle, hypermodel=hypermodel, directory=directory, project_name=project_name)
        self.study, self.objective = study, objective
        self.n_trials, self.clock = n_trials, clock
        self.round_models = round_models
        self.dataset = dataset  # a trial with the values of one of its presets is that preset
        self.started = 0
        self.progress = ProgressPrinter()

    def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> dict[str, float]:
        if (self.n_trials is not None and self.started >= self.n_trials) or self.clock.search_over():
            raise _BudgetSpent("budget spent")
        self.started += 1
        hp = trial.hyperparameters
        source = KerasTunerParams(hp)
        self.hypermodel.space.sample(source)  # which parameters this point uses, and their values
        values = source.values
        epochs = int(hp.values.get("tuner/epochs", self.objective.max_epochs))
        # keras-tuner's point goes through Optuna's queue, so the objective's suggest_* calls
        # return keras-tuner's values and the trial is stored like any other
        bracket = epochs if "tuner/epochs" in hp.values else None  # Hyperband's bracket: this trial's epochs
        objective = replace(self.objective, max_epochs=min(epochs, self.objective.max_epochs))
        continues = str(hp.values.get("tuner/trial_id", "")) or None
        if self.round_models is None or self.objective.checkpoints is None:
            continues = None
        preset = self.hypermodel.space.preset_of(values, self.dataset)
        record = TrialRecord(
            engine="keras-tuner", keras_tuner_trial=str(trial.trial_id), keras_tuner_epochs=bracket,
            keras_tuner_continues=continues, preset=preset,
        )  # fmt: skip
        if continues is not None:
            objective = replace(
                objective,
                checkpoints=_Continuing(
                    self.objective.checkpoints,
                    self.round_models.path(continues),
                    self.round_models.history_path(continues),
                    int(hp.values.get("tuner/initial_epoch", 0)),
                ),
            )
        optuna_trial = self._ask(values, record)
        try:
            value = objective(optuna_trial)
        except optuna.TrialPruned:
            frozen = self.study.tell(optuna_trial, state=optuna.trial.TrialState.PRUNED)
            self.progress(self.study, frozen)
            partial = TrialRecord.of(frozen).val_accuracy
            if partial is None:
                raise kt.errors.FailedTrialError("over its time budget before an epoch ended") from None
            return {"val_accuracy": float(partial)}
        except Exception as exc:
            frozen = self.study.tell(optuna_trial, state=optuna.trial.TrialState.FAIL)
            self.progress(self.study, frozen)
            raise kt.errors.FailedTrialError(str(exc)) from exc
        frozen = self.study.tell(optuna_trial, value)
        self.progress(self.study, frozen)
        return {"val_accuracy": float(value)}  # type: ignore[arg-type]

    def _ask(self, values: dict[str, Any], record: TrialRecord) -> optuna.Trial:
        """A new Optuna trial holding keras-tuner's values (queued, then asked for).

        ``study.ask`` takes the oldest waiting trial of the study; one left waiting by an earlier
        invocation that died between queueing and asking is not this keras-tuner trial, so it is
        recorded as failed (with the reason) and the next one is taken.
        """
        self.study.enqueue_trial(values, user_attrs=record.attrs())
        while True:
            with warnings.catch_warnings():  # Optuna would like optimize() for its heartbeat thread
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                optuna_trial = self.study.ask()
            # (a retried keras-tuner trial has the same id and the same values)
            if TrialRecord.of(optuna_trial).keras_tuner_trial == record.keras_tuner_trial:
                return optuna_trial
            TrialRecord(fail_reason="left waiting by an earlier keras-tuner invocation").write(optuna_trial)
            self.study.tell(optuna_trial, state=optuna.trial.TrialState.FAIL)


#: random points before keras-tuner's Bayesian optimisation fits its Gaussian process — Optuna
#: TPE's ``n_startup_trials`` (keras-tuner's default, 3 per dimension, would be 126 for ``cnn``)
BAYESIAN_INITIAL_POINTS = 10


class _InitialPoints(kt.Oracle):
    """An oracle whose first random draws are given points (``--enqueue-presets``).

    keras-tuner's oracles take no initial points (Optuna has ``enqueue_trial``, NePS a prior);
    every one of them draws its random points through ``Oracle._random_values`` (Hyperband the
    first round of each bracket, the Bayesian oracle its initial points, random search all), so
    that is where the points go in, in order. A point fills the parameters it leaves out with
    their defaults, so its hash is the one keras-tuner records for it: a point an earlier
    invocation tried is a duplicate and is skipped on resume.

    Args:
        initial_points: parameter values by name, the first draws in this order.
    """

    def __init__(self, *args: Any, initial_points: Sequence[Mapping[str, Any]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial_points = [dict(p) for p in initial_points]

    def _random_values(self) -> dict[str, Any] | None:
        while self.initial_points:
            given = self.initial_points.pop(0)
            values = {hp.name: given.get(hp.name, hp.default) for hp in self.hyperparameters.space}
            if not self._duplicate(values):
                return values
        return super()._random_values()


class _Hyperband(_InitialPoints, kt.oracles.HyperbandOracle):
    """keras-tuner's Hyperband with initial points."""


class _Bayesian(_InitialPoints, kt.oracles.BayesianOptimizationOracle):
    """keras-tuner's Bayesian optimisation with initial points."""


class _Random(_InitialPoints, kt.oracles.RandomSearchOracle):
    """keras-tuner's random search with initial points."""


def _oracle(
    name: str, max_epochs: int, seed: int | None, initial_points: Sequence[Mapping[str, Any]] = ()
) -> kt.Oracle:
    """keras-tuner's oracle for ``--tuner``, unbounded: the invocation's budget stops it; its
    first random draws are ``initial_points`` (:class:`_InitialPoints`)."""
    objective = kt.Objective("val_accuracy", direction="max")
    # a failed point (an invalid combination) is a result, not a reason to stop the search;
    # keras-tuner reads a seed of 0 as no seed (``seed or random.randint(1, 10000)``), so every
    # seed is shifted by one: ``--seed 0`` then fixes keras-tuner's draws as it fixes Optuna's
    common: dict[str, Any] = {
        "seed": None if seed is None else seed + 1,
        "max_consecutive_failed_trials": 1_000_000,
        "initial_points": initial_points,
    }
    if name == "hyperband":  # brackets over and over (hyperband_iterations=None: no end)
        return _Hyperband(objective, max_epochs=max_epochs, factor=3, hyperband_iterations=None, **common)
    if name == "bayesian":
        return _Bayesian(objective, max_trials=None, num_initial_points=BAYESIAN_INITIAL_POINTS, **common)
    return _Random(objective, max_trials=None, **common)


def run_keras_tuner(prepared: Prepared, observers: list[TrialObserver] | None = None) -> SearchSummary:
    """Run one invocation with keras-tuner choosing the values; summarise it like the Optuna engine."""
    s, study = prepared.settings, prepared.study
    directory = Path(s.artifacts).parent / "keras-tuner"
    round_models = _RoundModels(directory / study.study_name / "round_models", s.max_epochs)
    extra = [round_models] if s.tuner == "hyperband" else []
    group = ObserverGroup([OptunaArtifacts(prepared.artifact_store), *(observers or []), *extra])
    enqueue_and_announce(prepared, searcher=f"keras-tuner {s.tuner}", enqueue=False)
    clock = make_clock(prepared)
    objective = make_objective(prepared, group, clock, prune=False)  # keras-tuner's Hyperband stops trials itself
    data = prepared.data
    hypermodel = _SpaceHyperModel(prepared.space, data.x_train.shape[1:], data.num_classes)
    presets = []
    if s.enqueue_presets:  # keras-tuner's first random draws (it has no queue)
        presets = presets_to_try(study, prepared.space, s.dataset_name, data.input_shape, data.num_classes)
        if presets:
            _log.info("keras-tuner's initial points: presets %s", ", ".join(p.name for p in presets))
    tuner = _PlatformTuner(
        _oracle(s.tuner, s.max_epochs, s.seed, [p.params for p in presets]),
        hypermodel,
        study=study,
        objective=objective,
        n_trials=s.n_trials,
        clock=clock,
        directory=str(directory),
        project_name=study.study_name,
        round_models=round_models if s.tuner == "hyperband" else None,
        dataset=s.dataset_name,
    )
    if s.n_trials is not None:
        # the oracle reloaded the trials of earlier invocations: this one may start n_trials more
        tuner.oracle.max_trials = len(tuner.oracle.trials) + s.n_trials
    before = len(study.get_trials(deepcopy=False))
    group.on_search_start(study)
    start = time.perf_counter()
    interrupted = False
    try:  # our progress line and the trial's fail_reason say a failure in one line
        with keras_tuner_debug(s.verbose):
            tuner.search(verbose=1 if s.verbose else 0)  # our progress lines, not keras-tuner's
    except _BudgetSpent:
        pass
    except KeyboardInterrupt:
        interrupted = True
        _log.warning("interrupted: run the same command to resume")
    return finish_search(
        prepared,
        group,
        trials_this_run=len(study.get_trials(deepcopy=False)) - before,
        wall_seconds=time.perf_counter() - start,
        interrupted=interrupted,
        clock=clock,
    )
