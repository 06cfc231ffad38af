"""The Optuna objective: sample a candidate from a space, train it, record what it measured."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import optuna

from search.core import WALL_CLOCK, Clock
from search.data import Dataset
from search.policy import CandidatePace, Finished, Leader, TimePolicy, TooSlow, TrialTime
from search.records import TrialKey, TrialRecord
from search.training import (
    KERAS_TRAINER,
    Checkpoints,
    EpochCostModel,
    OverBudget,
    Resume,
    Trainer,
    TrainResult,
    TrialTimeBudget,
    device_description,
    fastest_pace,
    first_epoch_images,
)
from search.trials._callbacks import EpochForwarder, PruneBeforeLastEpoch
from search.trials._keeper import ModelKeeper
from search.trials._observers import ObserverGroup, TrialOutcome, TrialStart
from search.trials._records import (
    CANNOT_BE_BUILT,
    OBJECTIVES,
    failure_reason,
    record_partial,
    record_result,
)
from spaces import Candidate, SearchSpace, TrialParams, UnbuildableError

__all__ = ["Objective"]

_log = logging.getLogger(__name__)

_FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass
class _TrialRun:
    """What one trial's steps share, once it has started (:meth:`Objective._start`)."""

    epochs: int  # epochs it plans
    forwarder: EpochForwarder  # tells the observers of each epoch, and keeps its history
    saver: Any  # the checkpoint callback (None: no checkpoints)
    budget: TrialTimeBudget
    callbacks: list[keras.callbacks.Callback]
    resume: Resume | None  # the predecessor's checkpoint it goes on from (None: a fresh start)
    initial_epoch: int  # epochs done before it starts (a resumed trial's predecessor's)
    first_images: int | None  # images its first epoch trains on when fewer than all

    @property
    def short_first(self) -> bool:
        """Whether its first epoch trains on a subset of the images."""
        return self.first_images is not None


@dataclass
class Objective:
    """Trains one candidate per trial; the value is the best validation accuracy over its epochs.

    Args:
        space: the family searched.
        data: the data set, loaded once per process and shared by every trial.
        max_epochs: cap on every candidate's epochs; also Hyperband's maximum resource.
        observers: console/MLflow observers, called at each step of a trial.
        artifact_store: where the models of the best trials are kept (Optuna artifacts).
        verbose: show Keras' per-epoch output.
        objectives: names from :data:`OBJECTIVES`; several make a multi-objective study.
        prune: report each epoch to Optuna's pruner (single-objective studies only).
        trial_seconds: the user's cap on every trial (``--trial-timeout``): a trial still training
            after this long stops, pruned before its first epoch (None: the cap is derived by
            :attr:`policy`).
        search_end: when the search ends (``search_end``, on :attr:`clock`; None: never), asked
            as each trial starts; a trial still training then stops. A candidate whose predicted epochs
            (:class:`~search.training.EpochCostModel`, calibrated on the study's trials) cannot
            reach its first rung before then is pruned once built, before it trains; one whose
            measured pace says the same, after its first seconds.
        first_rung: epochs a trial must be able to train in the time it has: where the pruner
            first compares it (successive halving: 2).
        checkpoints: save the model after every epoch, so a retried trial resumes from its
            predecessor's last completed epoch; deleted when the trial ends (None: no checkpoints).
        jit: compile every model's training step with XLA.
        patience: stop a trial whose validation accuracy has not improved for this many epochs
            (None: never). Optuna's pruners cannot judge several objectives at once, so
            multi-objective studies stop hopeless trials this way instead.
        seed: with ``--seed``, each trial's weights and data order start from ``seed`` plus its
            number, so the same study trains the same models again (None: fresh randomness).
        keep_models: keep the model of a trial that is among this many best complete trials when
            it ends (1: only a new best; more for ``--ensemble``). Multi-objective studies keep
            the models of trials on the Pareto front.
        first_epoch_fraction: a trial's first epoch trains on this share of the training images,
            a class-stratified subset drawn with its own seed, and its later epochs on all of them
            (:func:`~search.training.first_epoch_images`: small data sets keep every image; None:
            every epoch on every image). It makes the pruner's first comparison cheaper; the
            pace a trial records is still that of an epoch on every image.
        refit_follows: the chosen configuration is trained again after the search (``--refit``),
            for the epochs it planned when its cap stopped it while improving. No trial then needs
            to train to its end in the search: a leading trial is stopped by its derived cap like
            any other, the cap is a smaller share of the time left (rule ``cap-before-refit``),
            and while no trial has completed (the clock keeps no refit time yet) the time left
            counts the trial's own refit.
        policy: the time policy whose rules give each trial its cap, its bound on going on past
            it, and decide who is too slow (:class:`~search.policy.TimePolicy`: its rule table).
        clock: the clock ``search_end`` is on (default: the wall clock).
        trainer: what builds, counts and fits the candidates (default: Keras; a simulator
            replays recorded learning curves instead).
    """

    space: SearchSpace
    data: Dataset
    max_epochs: int
    observers: ObserverGroup
    artifact_store: Any | None = None
    verbose: bool = False
    objectives: tuple[str, ...] = ("accuracy",)
    prune: bool = True
    trial_seconds: float | None = None
    first_rung: int = 1
    search_end: Callable[[], float | None] | None = None
    checkpoints: Checkpoints | None = None
    patience: int | None = None
    jit: bool = False  # compile each model's training step with XLA (--jit)
    keep_models: int = 1  # the models of this many best trials are kept (the ensemble's library)
    seed: int | None = None  # trial N's Keras/NumPy/Python randomness starts from seed + N
    first_epoch_fraction: float | None = None  # the first epoch's share of the training images
    refit_follows: bool = False  # --refit: the search ranks, the refit trains the winner to its end
    policy: TimePolicy = field(default_factory=TimePolicy)  # when a candidate trains, how long
    clock: Clock = WALL_CLOCK  # the clock search_end is on
    trainer: Trainer = KERAS_TRAINER  # Keras, or a simulator's replay of recorded curves
    keeper: ModelKeeper = field(init=False)

    def __post_init__(self) -> None:
        self.keeper = ModelKeeper(self.artifact_store, self.objectives, self.keep_models)

    def __call__(self, trial: optuna.trial.Trial) -> float | tuple[float, ...]:
        candidate = self.space.sample(TrialParams(trial))
        run = self._start(trial, candidate)
        try:
            model = self._model(trial, candidate, run)
            self._budget(trial, model, candidate, run)
            result = self._train(trial, candidate, model, run)
        except OverBudget as exc:  # ranked by the sampler below every trial that finished
            pruned = optuna.TrialPruned(str(exc))
            self._record_pace(trial, run.budget)
            self._end_pruned(trial, run.saver, run.forwarder.history, pruned, short_first=run.short_first)
            raise pruned from exc
        except optuna.TrialPruned as pruned:
            self._record_pace(trial, run.budget)
            self._end_pruned(trial, run.saver, run.forwarder.history, pruned, short_first=run.short_first)
            raise
        except Exception as exc:
            reason = failure_reason(exc)
            TrialRecord(fail_reason=reason).write(trial)
            self._end_unfinished(trial, run.saver, run.forwarder.history, optuna.trial.TrialState.FAIL, error=reason)
            raise
        return self._end_complete(trial, run, result)

    def _start(self, trial: optuna.trial.Trial, candidate: Candidate) -> _TrialRun:
        """Record the trial's plan, resume its predecessor's checkpoint (a retry of a trial whose
        worker died goes on where it stopped), and gather the callbacks of its training."""
        epochs = min(candidate.train.epochs, self.max_epochs)
        TrialRecord(epochs_planned=epochs, device=device_description()).write(trial)
        forwarder = EpochForwarder(trial, self.observers)
        callbacks: list[keras.callbacks.Callback] = [forwarder]
        resume = self.checkpoints.restore(trial) if self.checkpoints else None
        saver = None
        if self.checkpoints is not None:
            saver = self.checkpoints.callback(trial, resume.history if resume else None)
            callbacks.append(saver)
        if self.prune:
            callbacks.append(PruneBeforeLastEpoch(trial, "val_accuracy"))
        budget = TrialTimeBudget(
            self.trial_seconds,
            deadline=self.search_end() if self.search_end is not None else None,
            first_rung=min(self.first_rung, epochs),
            leads=self._exempts_leader(trial),
            clock=self.clock,
        )
        callbacks.append(budget)
        if self.patience:
            callbacks.append(
                keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=self.patience)
            )
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed + trial.number)
        initial_epoch = min(resume.epoch, epochs - 1) if resume is not None else 0
        if resume is not None:
            TrialRecord(resumed_from_trial=resume.source_trial, resumed_from_epoch=initial_epoch).write(trial)
        first_images = self._first_epoch_images(epochs, initial_epoch)
        if initial_epoch == 0:  # what its first epoch trained on (a resumed trial's predecessor did it)
            TrialRecord(first_epoch_images=first_images or len(self.data.y_train)).write(trial)
        return _TrialRun(epochs, forwarder, saver, budget, callbacks, resume, initial_epoch, first_images)

    def _model(self, trial: optuna.trial.Trial, candidate: Candidate, run: _TrialRun) -> keras.Model:
        """The trial's compiled model: its predecessor's, resumed, or a new one (:meth:`_build`)."""
        model = run.resume.model if run.resume is not None else self._build(trial, candidate)
        TrialRecord(param_count=int(model.count_params())).write(trial)
        return model

    def _budget(self, trial: optuna.trial.Trial, model: keras.Model, candidate: Candidate, run: _TrialRun) -> None:
        """Set the trial's time cap and the bound on going on past it, or prune a candidate that
        cannot reach its first rung in the time it has (:meth:`_check_affordable`)."""
        budget = run.budget
        budget.seconds, budget.until = self._check_affordable(
            trial, model, candidate, budget, run.initial_epoch, run.first_images
        )  # fmt: skip
        TrialRecord(  # why a trial stopped where it did, for the user
            time_cap_seconds=round(budget.seconds, 1) if budget.seconds is not None else None,
            time_bound_seconds=round(budget.until, 1) if budget.until is not None else None,
        ).write(trial)

    def _train(self, trial: optuna.trial.Trial, candidate: Candidate, model: keras.Model, run: _TrialRun) -> TrainResult:
        """Tell the observers the trial starts, then train its model."""
        self.observers.on_trial_start(
            TrialStart(
                trial=trial,
                family=self.space.name,
                params=dict(trial.params),
                candidate=candidate,
                model=model,
                epochs=run.epochs,
                preset=TrialRecord.of(trial).preset,
            )
        )
        return self.trainer.fit(
            self.space,
            candidate,
            self.data,
            max_epochs=self.max_epochs,
            callbacks=run.callbacks,
            verbose=self.verbose,
            model=model,
            initial_epoch=run.initial_epoch,
            first_epoch_images=run.first_images,
            subset_seed=(self.seed or 0) + trial.number,
        )

    def _end_complete(self, trial: optuna.trial.Trial, run: _TrialRun, result: TrainResult) -> float | tuple[float, ...]:
        """Record what a complete trial measured, keep its model if it is good, tell the observers;
        return its objective values."""
        self._end_checkpoints(trial, run.saver)
        self._record_pace(trial, run.budget)
        if run.budget.stopped:
            TrialRecord(stopped_by_time_budget=True).write(trial)
        record_result(trial, result)
        self.keeper.keep_if_good(trial, result)
        record = TrialRecord.of(trial)
        self.observers.on_trial_end(
            TrialOutcome(
                trial,
                optuna.trial.TrialState.COMPLETE,
                result.val_accuracy,
                metrics=record.metrics(),
                history=result.history,
                model=result.model,
            )
        )
        if len(self.objectives) == 1 and self.objectives[0] == "accuracy":
            return result.val_accuracy
        return tuple(float(record.get(OBJECTIVES[name][0])) for name in self.objectives)

    def _first_epoch_images(self, epochs: int, initial_epoch: int) -> int | None:
        """Images the trial's first epoch trains on when fewer than all (None: every image, and
        always for a trial resumed past its first epoch or of a single epoch)."""
        if initial_epoch > 0 or epochs < 2:
            return None
        return first_epoch_images(len(self.data.y_train), self.first_epoch_fraction)

    def _build(self, trial: optuna.trial.Trial, candidate: Candidate) -> keras.Model:
        """The trial's compiled model; a point that cannot be built is pruned, not failed: Optuna's
        samplers ignore failed trials (and TPE would sample the region again), while TPE ranks a
        pruned trial with no epoch below every other, as Optuna's maintainers advise for
        infeasible points (optuna/optuna#566)."""
        try:
            return self.trainer.build(self.space, candidate, self.data, params=trial.params, jit=self.jit)
        except UnbuildableError as exc:
            raise optuna.TrialPruned(f"{CANNOT_BE_BUILT}: {exc}") from exc

    def _check_affordable(
        self,
        trial: optuna.trial.Trial,
        model: keras.Model,
        candidate: Candidate,
        budget: TrialTimeBudget,
        initial_epoch: int,
        first_images: int | None = None,
    ) -> tuple[float | None, float | None]:
        """Prune a built candidate that cannot reach its first rung in the time it has, before
        it trains (:meth:`~search.policy.TimePolicy.trial_time`); return its cap and the bound on
        going on past it. Records what the cost model reads."""
        prediction = self._predict(trial.study, model, candidate)
        if prediction is None:  # a model the counter does not understand: no prediction
            _log.debug("cannot count the multiply-adds of trial %d", trial.number)
            return self.trial_seconds, None
        madds, per_epoch, others = prediction
        TrialRecord(
            multiply_adds=int(madds),
            batch_size=int(candidate.train.batch_size),
            train_images=len(self.data.y_train),
            predicted_seconds_per_epoch=round(per_epoch, 3),
        ).write(trial)
        epochs = int(TrialRecord.of(trial).get(TrialKey.EPOCHS_PLANNED))
        pace = self._pace(per_epoch, epochs, budget.first_rung, initial_epoch, first_images)
        try:
            return self._trial_time(pace, others, budget.deadline)
        except TooSlow as exc:
            raise optuna.TrialPruned(str(exc)) from exc

    def _predict(
        self, study: optuna.Study, model: keras.Model, candidate: Candidate
    ) -> tuple[int, float, list[optuna.trial.FrozenTrial]] | None:
        """The model's multiply-adds, its predicted seconds per epoch and the finished trials the
        prediction rests on (None: the counter does not understand the model).

        The pace is predicted from its multiply-adds, the training images and its batch size by
        an :class:`~search.training.EpochCostModel` fitted to the paces this study's trials
        measured on this machine."""
        try:
            madds = self.trainer.multiply_adds(model)
        except (AttributeError, TypeError, ValueError):
            return None
        others = study.get_trials(deepcopy=False, states=_FINISHED)
        images, batch = len(self.data.y_train), int(candidate.train.batch_size)
        return madds, EpochCostModel.from_records(map(TrialRecord.of, others)).seconds_per_epoch(madds, images, batch), others

    def _pace(
        self, per_epoch: float, epochs: int, first_rung: int, initial_epoch: int, first_images: int | None
    ) -> CandidatePace:
        """What the policy reads of a candidate: its predicted pace and its first rung (a first
        epoch on ``first_images`` images counting as that share of an epoch)."""
        share = 1.0 if first_images is None else first_images / len(self.data.y_train)
        return CandidatePace(per_epoch, epochs, first_rung, initial_epoch, share)

    def _trial_time(
        self, pace: CandidatePace, others: list[optuna.trial.FrozenTrial], deadline: float | None
    ) -> TrialTime:
        """The policy's cap and bound for ``pace``, with ``deadline`` (``search_end``) on the clock
        and what the finished trials ``others`` measured; raises :class:`~search.policy.TooSlow`."""
        left = None if deadline is None else deadline - self.clock.now()
        finished = Finished(fastest=fastest_pace(map(TrialRecord.of, others)))
        return self.policy.trial_time(
            pace, left=left, finished=finished, user_cap=self.trial_seconds, refit_follows=self.refit_follows
        )

    def affordable(self, study: optuna.Study, model: keras.Model, candidate: Candidate) -> bool:
        """Whether a candidate not yet a trial (``model``: built, not compiled) could reach its
        first rung if a trial started it now: the check a trial makes once built, made before
        the trial exists, so that the prior sampler draws again rather than start a trial that
        would be pruned as too slow (:func:`~search.training.buildable`'s ``affordable``)."""
        prediction = self._predict(study, model, candidate)
        if prediction is None:
            return True  # no prediction: the trial will measure
        _, per_epoch, others = prediction
        epochs = min(candidate.train.epochs, self.max_epochs)
        deadline = self.search_end() if self.search_end is not None else None
        pace = self._pace(per_epoch, epochs, min(self.first_rung, epochs), 0, self._first_epoch_images(epochs, 0))
        try:
            self._trial_time(pace, others, deadline)
        except TooSlow:
            return False
        return True

    def _exempts_leader(self, trial: optuna.trial.Trial) -> Callable[[float, int], bool] | None:
        """What :class:`~search.training.TrialTimeBudget` asks of a trial past its derived cap:
        whether it goes on (:meth:`~search.policy.TimePolicy.goes_on`, against the best complete
        trial so far). None with the user's ``--trial-timeout``, which binds every trial."""
        if not self.policy.spares(self.trial_seconds):
            return None
        refit_follows = self.refit_follows

        def goes_on(accuracy: float, epochs: int) -> bool:
            complete = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            best = max(complete, key=_val_accuracy, default=None)
            leader = None if best is None else Leader(_val_accuracy(best), best.intermediate_values)
            return self.policy.goes_on(accuracy, epochs, leader, refit_follows=refit_follows)

        return goes_on

    @staticmethod
    def _record_pace(trial: optuna.trial.Trial, budget: TrialTimeBudget) -> None:
        """The pace its first batches showed, for the cost model of later trials."""
        if budget.seconds_per_epoch:
            TrialRecord(batch_seconds_per_epoch=round(budget.seconds_per_epoch, 3)).write(trial)

    def _end_pruned(
        self,
        trial: optuna.trial.Trial,
        saver: Any,
        history: dict[str, list[float]],
        pruned: optuna.TrialPruned,
        *,
        short_first: bool = False,
    ) -> None:
        """Record why and after how many epochs a trial was pruned, then end it (``short_first``:
        its first epoch trained on a subset of the images)."""
        done = len(history.get("val_accuracy", []))
        TrialRecord(pruned_reason=str(pruned) or "pruner", pruned_epoch=done, epochs_run=done).write(trial)
        self._end_unfinished(
            trial, saver, history, optuna.trial.TrialState.PRUNED, pruned_epoch=done, short_first=short_first
        )

    def _end_unfinished(
        self,
        trial: optuna.trial.Trial,
        saver: Any,
        history: dict[str, list[float]],
        state: optuna.trial.TrialState,
        *,
        pruned_epoch: int | None = None,
        error: str | None = None,
        short_first: bool = False,
    ) -> None:
        """A pruned or failed trial: drop its checkpoints, record its epochs, tell the observers."""
        self._end_checkpoints(trial, saver)
        record_partial(trial, history, short_first=short_first)
        outcome = TrialOutcome(
            trial, state, None, metrics=TrialRecord.of(trial).metrics(), history=history, pruned_epoch=pruned_epoch, error=error
        )
        self.observers.on_trial_end(outcome)

    def _end_checkpoints(self, trial: optuna.trial.Trial, saver: Any) -> None:
        """The trial ended (not interrupted): record what checkpoints cost, then delete them."""
        if self.checkpoints is None:
            return
        if saver is not None and saver.seconds:
            per_epoch = sum(saver.seconds) / len(saver.seconds)
            TrialRecord(checkpoint_seconds_per_epoch=round(per_epoch, 4)).write(trial)
        self.checkpoints.discard(trial.number, *self.checkpoints.predecessors(trial))



def _val_accuracy(trial: optuna.trial.FrozenTrial) -> float:
    """A complete trial's best validation accuracy (-1: not recorded)."""
    accuracy = TrialRecord.of(trial).val_accuracy
    return -1.0 if accuracy is None else accuracy
