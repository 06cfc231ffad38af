"""One simulated search: the platform's own search code on recorded curves and a virtual clock.

:func:`simulate_platform` runs a search exactly as ``search.run`` sets it up from the same
command-line options (``search.run``'s parser and :func:`~search.run.settings_from_args`, then the
same sampler, pruner, clock, objective and time policy as :func:`search.execution.run_search`),
with two things replaced: Keras, by a :class:`~benchmarks.simulate.ReplayTrainer` answering from
the recorded curves, and the wall clock, by a :class:`~search.core.VirtualClock`. The trial loop is
a plain ask-and-tell loop that stops when the clock says no trial may start (``last_start``): the
process plumbing of :func:`search.trials.run_trials` (locks, heartbeats, retries) decides nothing
about time. After the search the platform's own :func:`search.final.refit` plans and runs the
refit on the same clock. The final model's test accuracy is the recorded one of its configuration
after the epochs it trained.

Not simulated: ``--ensemble`` (averaging needs every model's predictions, which are not recorded:
the final model is the refit or the best trial's own), cross-validation (``--cv`` is off; a
``make run`` on Fashion-MNIST's 6,000 validation images does not cross-validate either) and
``--workers`` (one worker).

:func:`simulate_optuna_user` runs a peer the way an Optuna user writes one: ``study.optimize``
with a sampler and a pruner reporting every epoch (``TFKerasPruningCallback``'s behaviour), no
time rule of the platform, every trial trained to its end, and trials started until the budget;
the final model is the best trial's own model, from trials finished by the budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import optuna

from benchmarks.simulate._grid import FULL_TRAIN_IMAGES
from benchmarks.simulate._replay import (
    BUILD_SECONDS,
    TRACKING_SECONDS,
    ReplayModel,
    ReplayTrainer,
    ValidationDraw,
)
from benchmarks.simulate._surrogate import Surrogate
from search.core import VirtualClock
from search.data import Dataset
from search.policy import DEFAULT_TIME_POLICY, TimePolicy
from search.records import TrialRecord
from spaces import TrialParams, UnbuildableError, get_space

__all__ = ["Outcome", "simulate_keras_tuner", "simulate_optuna_user", "simulate_platform"]


@dataclass(frozen=True)
class Outcome:
    """What one simulated search ended with."""

    test_accuracy: float | None  # of the final model (None: no trial completed)
    val_accuracy: float | None  # the chosen trial's best validation accuracy
    trials: int
    complete: int
    pruned: int
    final_trial: int | None
    final_is_preset: bool
    refit_epochs: int | None  # None: the trial's own model is the final one
    seconds: float  # virtual seconds the search and its refit took
    max_distance: float  # the farthest any trial's point was from its recorded configuration
    curve: tuple[tuple[float, float], ...] = ()  # (virtual seconds, best validation accuracy so far)
    # at each trial that completed
    configs: int = 0  # distinct recorded configurations trained (a point near one already trained
    # replays that one's curve again: the surrogate has nothing between its records)


def _fitted(fits: list[ReplayModel]) -> dict[str, Any]:
    """The Outcome fields of the models a search trained: how far from their records, how many."""
    return {"max_distance": max((m.distance for m in fits), default=0.0), "configs": len({m.record.id for m in fits})}


def _outcome(study: optuna.Study, best: optuna.trial.FrozenTrial | None, test: float | None, *,
             refit_epochs: int | None, seconds: float, fits: list[ReplayModel]) -> Outcome:
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    return Outcome(
        test_accuracy=test,
        val_accuracy=None if best is None else best.value,
        trials=len(trials),
        complete=states.count(optuna.trial.TrialState.COMPLETE),
        pruned=states.count(optuna.trial.TrialState.PRUNED),
        final_trial=None if best is None else best.number,
        final_is_preset=best is not None and bool(TrialRecord.of(best).preset),
        refit_epochs=refit_epochs,
        seconds=seconds,
        curve=_best_so_far(study),
        **_fitted(fits),
    )


def _best_so_far(study: optuna.Study) -> tuple[tuple[float, float], ...]:
    """(virtual seconds, best validation accuracy so far) at each complete trial, in order; the
    times are the trials' ends on the virtual clock (``datetime_complete`` is wall time)."""
    points, best = [], -math.inf
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        end = t.user_attrs.get("virtual_end")
        if end is None or t.value is None:
            continue
        best = max(best, float(t.value))
        points.append((round(float(end), 2), best))
    return tuple(points)


def _trainer(
    surrogate: Surrogate, virtual: VirtualClock, data: Dataset, *, speed: float, seed: int, validation_images: int | None
) -> ReplayTrainer:
    """The replay trainer of one search (``validation_images``: a :class:`ValidationDraw` of that
    many images for ``seed``, in place of the recorded validation accuracy)."""
    validation = ValidationDraw(validation_images, seed) if validation_images else None
    return ReplayTrainer(
        surrogate, virtual, speed=speed, build_seconds=_overhead(BUILD_SECONDS, data), validation=validation
    )


def simulate_platform(
    surrogate: Surrogate,
    data: Dataset,
    family: str,
    options: list[str],
    *,
    budget: float,
    seed: int,
    speed: float = 1.0,
    policy: TimePolicy = DEFAULT_TIME_POLICY,
    validation_images: int | None = None,
    prior_options: Mapping[str, Any] | None = None,
) -> Outcome:
    """One search with ``search.run``'s ``options`` (``--timeout`` is ``budget`` virtual seconds,
    ``--seed`` is ``seed``), on a machine ``speed`` times as fast as the recording's, under the
    time rules of ``policy`` (the platform's own unless an ablation varies one); every method's
    ``validation_images``: see :class:`~benchmarks.simulate.ValidationDraw`; ``prior_options``:
    keyword arguments of :class:`~search.samplers.PriorSampler` an ablation varies (``"global":
    "uniform"``: its global draws uniform, as PriorBand's random ones, instead of TPE's)."""
    from search.execution import Prepared, make_clock, make_objective
    from search.execution._presets import enqueue_presets
    from search.final import refit
    from search.pruners import make_pruner
    from search.run import build_parser, settings_from_args
    from search.samplers import make_sampler
    from search.trials import ObserverGroup

    args = build_parser().parse_args(
        ["--study", family, *options, "--timeout", str(budget), "--seed", str(seed), "--no-mlflow", "--cv", "off"]
    )
    settings = replace(settings_from_args(args), ensemble=1, artifacts="unused")
    space = get_space(family)
    priors = [p.params for p in space.presets.values() if p.dataset == settings.dataset_name]
    pruner = make_pruner("none" if len(settings.objectives) > 1 else settings.pruner, settings.max_epochs,
                         len(data.y_val), data.num_classes)  # fmt: skip
    sampler = make_sampler(settings.sampler, seed, priors)
    if prior_options:
        from search.samplers import PriorSampler

        options = dict(prior_options)
        if options.pop("global", None) == "uniform":
            options["base_sampler"] = optuna.samplers.RandomSampler(seed=seed)
        sampler = PriorSampler(priors, seed=seed, **options)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    prepared = Prepared(settings, space, data, study, None)  # type: ignore[arg-type]
    if settings.enqueue_presets:
        enqueue_presets(study, space, settings.dataset_name, data.input_shape, data.num_classes)
    virtual = VirtualClock()
    trainer = _trainer(surrogate, virtual, data, speed=speed, seed=seed, validation_images=validation_images)
    clock = make_clock(prepared, virtual, policy)
    objective = make_objective(prepared, ObserverGroup([]), clock, trainer=trainer, policy=policy)
    objective.checkpoints = None
    started = 0
    while not clock.search_over() and (settings.n_trials is None or started < settings.n_trials):
        trial = study.ask()
        started += 1
        virtual.advance(_overhead(TRACKING_SECONDS, data) / speed)
        try:
            value = objective(trial)
            trial.set_user_attr("virtual_end", virtual.now())
            study.tell(trial, value)
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        except Exception:  # noqa: BLE001 - a failed trial, as the platform records it
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return _outcome(study, None, None, refit_epochs=None, seconds=virtual.now(), fits=trainer.fits)
    best = max(complete, key=lambda t: t.values[0])
    record, _ = surrogate.nearest(best.params)
    test = _own_model_test(record, TrialRecord.of(best).best_epoch)
    refit_epochs = None
    if settings.refit:
        fit = refit(study, best, space, data, end=clock.end, artifact_store=None, clock=virtual, trainer=trainer, policy=policy)
        if fit is not None:
            refit_epochs = fit.epochs_run
            test = float(record.test_accuracy[min(fit.epochs_run, len(record.test_accuracy)) - 1])
    return _outcome(study, best, test, refit_epochs=refit_epochs, seconds=virtual.now(), fits=trainer.fits)


def _overhead(seconds: float, data: Dataset) -> float:
    """A trial's wall ``seconds`` besides its epochs, as virtual seconds at speed 1: scaled as the
    budget is, by the recorded training images' share of the whole data set's."""
    return seconds * len(data.y_train) / FULL_TRAIN_IMAGES


def _own_model_test(record: Any, best_epoch: int | None) -> float:
    """The recorded test accuracy after a trial's best epoch (1-based ``best_epoch``)."""
    e = max(1, min(int(best_epoch or 1), len(record.test_accuracy)))
    return float(record.test_accuracy[e - 1])


def simulate_optuna_user(
    surrogate: Surrogate,
    data: Dataset,
    family: str,
    *,
    sampler: str,
    pruner: str,
    budget: float,
    seed: int,
    speed: float = 1.0,
    presets: bool = False,
    max_epochs: int = 10,
    validation_images: int | None = None,
) -> Outcome:
    """An Optuna user's script: ``sampler`` (``tpe``: TPE as Optuna's docs set it up; ``random``)
    and ``pruner`` (``hyperband``, ``successive-halving``/ASHA, ``median`` or ``none``: Optuna's
    own, unwrapped), every epoch reported, no per-trial time rule, trials started until ``budget``
    (``presets``: the documents' presets enqueued first)."""
    space = get_space(family)
    samplers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
    }
    pruners = {
        "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs),
        "successive-halving": lambda: optuna.pruners.SuccessiveHalvingPruner(),
        "median": lambda: optuna.pruners.MedianPruner(n_warmup_steps=1),
        "none": lambda: optuna.pruners.NopPruner(),
    }
    study = optuna.create_study(direction="maximize", sampler=samplers[sampler](), pruner=pruners[pruner]())
    if presets:
        for preset in space.presets.values():
            study.enqueue_trial(dict(preset.params), user_attrs={"preset": preset.name})
    virtual = VirtualClock()
    trainer = _trainer(surrogate, virtual, data, speed=speed, seed=seed, validation_images=validation_images)
    finished_by_budget: list[tuple[optuna.trial.FrozenTrial, ReplayModel]] = []
    models: dict[int, ReplayModel] = {}
    while virtual.now() < budget:
        trial = study.ask()
        try:
            candidate = space.sample(TrialParams(trial))
            model = trainer.build(space, candidate, data, params=trial.params)
        except UnbuildableError:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        models[trial.number] = model
        callbacks = [_OptunaReport(trial)]
        try:
            result = trainer.fit(space, candidate, data, max_epochs=max_epochs, callbacks=callbacks, model=model)
            if virtual.now() <= budget:
                trial.set_user_attr("virtual_end", virtual.now())
            frozen = study.tell(trial, result.val_accuracy)
            if virtual.now() <= budget:
                finished_by_budget.append((frozen, model))
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        except Exception:  # noqa: BLE001 - a diverged configuration
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    if not finished_by_budget:
        return _outcome(study, None, None, refit_epochs=None, seconds=virtual.now(), fits=trainer.fits)
    best, model = max(finished_by_budget, key=lambda tm: tm[0].value)
    test = _own_model_test(model.record, (model.best_epoch or 0) + 1)
    return _outcome(study, best, test, refit_epochs=None, seconds=virtual.now(), fits=trainer.fits)


class _OptunaReport:
    """``optuna_integration.TFKerasPruningCallback``'s behaviour, as a plain callback: report the
    validation accuracy after each epoch and prune when the pruner says so."""

    def __init__(self, trial: optuna.trial.Trial) -> None:
        self.trial = trial

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Any = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: Any = None) -> None: ...
    def on_test_begin(self, logs: Any = None) -> None: ...
    def on_train_end(self, logs: Any = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        value = (logs or {}).get("val_accuracy")
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch + 1}")


def simulate_keras_tuner(
    surrogate: Surrogate,
    data: Dataset,
    family: str,
    *,
    tuner: str,
    budget: float,
    seed: int,
    speed: float = 1.0,
    presets: bool = False,
    max_epochs: int = 10,
    validation_images: int | None = None,
) -> Outcome:
    """A keras-tuner user's search: the oracle ``tuner`` (``hyperband``, ``bayesian`` or
    ``random``, configured as the platform's keras-tuner engine configures them) proposes, every
    trial trains its bracket's epochs (a promoted Hyperband trial goes on from the model of its
    previous round, at ``tuner/initial_epoch``), no time rule of the platform; the final model is
    the best trial's own, from trials finished by the budget (``presets``: the documents' presets
    are the oracle's first random draws, its initial points)."""
    import tempfile

    import keras_tuner as kt

    from search.engines import KerasTunerParams
    from search.engines._keras_tuner import _oracle, _SpaceHyperModel

    space = get_space(family)
    virtual = VirtualClock()
    trainer = _trainer(surrogate, virtual, data, speed=speed, seed=seed, validation_images=validation_images)
    oracle = _oracle(tuner, max_epochs, seed, [p.params for p in space.presets.values()] if presets else ())
    oracle.verbose = 0  # keras-tuner's own table of every trial
    finished: list[tuple[float, ReplayModel, bool]] = []  # (validation accuracy, model, is a preset)
    models: dict[str, ReplayModel] = {}
    with tempfile.TemporaryDirectory() as folder:
        oracle._set_project_dir(folder, "sim")
        hp = kt.HyperParameters()
        _SpaceHyperModel(space, data.input_shape, data.num_classes).declare_hyperparameters(hp)
        oracle.update_space(hp)
        trials = 0
        while virtual.now() < budget:
            trial = oracle.create_trial("sim")
            if trial.status == kt.engine.trial.TrialStatus.STOPPED:
                break
            trials += 1
            values = trial.hyperparameters.values
            source = KerasTunerParams(trial.hyperparameters)
            try:
                candidate = space.sample(source)
                model = trainer.build(space, candidate, data, params=source.values)
                epochs = int(values.get("tuner/epochs", max_epochs))
                previous = models.get(str(values.get("tuner/trial_id", "")))
                initial = int(values.get("tuner/initial_epoch", 0)) if previous is not None else 0
                result = trainer.fit(space, candidate, data, max_epochs=min(epochs, max_epochs), model=model, initial_epoch=initial)
            except Exception:  # noqa: BLE001 - unbuildable or diverged: a failed trial, as keras-tuner records it
                trial.status = kt.engine.trial.TrialStatus.FAILED
                oracle.end_trial(trial)
                continue
            models[trial.trial_id] = model
            oracle.update_trial(trial.trial_id, {"val_accuracy": float(result.val_accuracy)})
            trial.status = kt.engine.trial.TrialStatus.COMPLETED
            oracle.end_trial(trial)
            if virtual.now() <= budget:
                finished.append((float(result.val_accuracy), model, space.preset_of(source.values) is not None))
    if not finished:
        return Outcome(None, None, trials, 0, 0, None, False, None, virtual.now(), **_fitted(trainer.fits))
    value, model, is_preset = max(finished, key=lambda vmp: vmp[0])
    return Outcome(
        test_accuracy=trainer.test_accuracy(model), val_accuracy=value, trials=trials, complete=len(finished),
        pruned=0, final_trial=None, final_is_preset=is_preset, refit_epochs=None, seconds=virtual.now(),
        **_fitted(trainer.fits),
    )  # fmt: skip
