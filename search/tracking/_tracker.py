"""The MLflow tracker: a :class:`~search.trials.TrialObserver` that logs a search to MLflow.

Layout in MLflow:

* one **experiment** per Optuna study (same name), its artifacts under the store's artifact root;
* one **parent run** per ``search.run`` invocation (tag ``search.role=parent``): the settings, the
  study's counts, the test evaluation of the best configuration (accuracy, per-class table,
  confusion matrix), ``search.report``'s page, and the final model as an MLflow model
  registered under the study's name (:mod:`search.tracking._models`: alias ``champion``);
* one **child run** per trial, nested under the parent (run name ``trial-<n>``): the sampled
  parameters, per-epoch metrics (step = epoch), the final figures, the model summary and the
  learning curves; status ``FINISHED`` (complete), ``KILLED`` (pruned; tag ``pruned_epoch``) or
  ``FAILED`` (tag ``error``). Tags ``optuna.study_name`` / ``optuna.trial_number`` /
  ``optuna.trial_state`` lead from a run to its trial; the trial's user attribute
  ``mlflow_run_id`` leads back. Each trial's run has MLflow's system metrics (``system/...``: CPU,
  memory, GPU when there is one) sampled every :data:`SYSTEM_METRICS_SECONDS` while it trains.
* every run records the training, validation and test data as MLflow dataset inputs
  (:mod:`search.tracking._datasets`), so the runs table says what each trained on.

Only :class:`mlflow.MlflowClient` is used (no global active run), so several worker processes, or
several machines against one tracking server, log into the same experiment safely. With
``--workers N`` the first process makes the parent run and its workers nest their trials under it
(:data:`PARENT_RUN_ENV`).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME, MLFLOW_SOURCE_NAME

from search.core import SearchSettings, artifact_root_for, redact, resolve_tracking_uri
from search.data import Dataset
from search.figures import confusion_figure, confusion_png, learning_curves_figure, markdown_table
from search.final import SearchSummary, TestEvaluation
from search.records import TrialRecord
from search.tracking._datasets import dataset_inputs
from search.tracking._models import log_final_model
from search.training import precision_policy
from search.trials import TrialObserver, TrialOutcome, TrialStart

__all__ = [
    "PARENT_RUN_ENV",
    "SYSTEM_METRICS_SECONDS",
    "MlflowTracker",
    "log_report",
    "observers_for",
    "open_experiment",
]

_log = logging.getLogger(__name__)

#: set by the process that starts ``--workers``: the parent run its workers nest their trials under
PARENT_RUN_ENV = "SEARCH_MLFLOW_PARENT_RUN_ID"
#: the study user attribute listing the parent runs of its invocations
PARENT_RUNS_ATTR = "mlflow_parent_run_ids"
ROLE_TAG = "search.role"

_STATUS = {
    optuna.trial.TrialState.COMPLETE: "FINISHED",
    optuna.trial.TrialState.PRUNED: "KILLED",
    optuna.trial.TrialState.FAIL: "FAILED",
}
#: MLflow's batch limits: at most 1000 metrics, 100 params per ``log_batch``
_PARAM_BATCH = 100
#: seconds between two samples of a trial's system metrics (trials may last only seconds);
#: ``$MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` overrides it, as for MLflow's own runs
SYSTEM_METRICS_SECONDS = 1.0


def observers_for(
    settings: SearchSettings, *, in_worker: bool = False, data: Dataset | None = None
) -> list[TrialObserver]:
    """The tracking observers of a search: an :class:`MlflowTracker`, or none with ``--no-mlflow``.

    Args:
        settings: the search's settings.
        in_worker: a worker process of ``--workers``: it nests its trials under the parent's run.
        data: the search's data set, recorded as every run's dataset inputs (None: not recorded,
            and no MLflow model of the final model, whose input example comes from it).
    """
    if not settings.track:
        return []
    return [MlflowTracker(settings, in_worker=in_worker, data=data)]


def open_experiment(client: MlflowClient, name: str, tracking_uri: str) -> str:
    """The id of experiment ``name``, created if missing (safe when processes race to create it).

    A new experiment keeps its artifacts under the store's artifact root (see
    :func:`search.core.artifact_root_for`), as an absolute ``file://`` location, so the MLflow UI
    finds them whatever folder it is started from; a tracking server chooses its own.
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return str(experiment.experiment_id)
    root = artifact_root_for(tracking_uri)
    location = (Path(root).resolve() / _safe(name)).as_uri() if root else None
    try:
        return str(
            client.create_experiment(
                name,
                artifact_location=location,
                tags={"mlflow.experimentKind": "custom_model_development", "optuna.study_name": name},
            )
        )
    except MlflowException:  # another worker created it first
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def log_report(study_name: str, tracking_uri: str | None, path: Path) -> str | None:
    """Log the file ``path`` to the latest parent run of ``study_name``'s experiment.

    Returns:
        The run id, or None when the study has no MLflow run.
    """
    client = MlflowClient(tracking_uri=resolve_tracking_uri(tracking_uri))
    experiment = client.get_experiment_by_name(study_name)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{ROLE_TAG}` = 'parent'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    run_id = runs[0].info.run_id
    client.log_artifact(run_id, str(path), artifact_path="report")
    return str(run_id)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "study"


def _param_value(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


class MlflowTracker(TrialObserver):
    """Logs a search to MLflow: see the module docstring for the layout.

    Args:
        settings: the search's settings (tracking URI, what to record as the parent run's params).
        in_worker: a worker process of ``--workers``: it nests its trials under the parent's run.
        data: the search's data set (dataset inputs of every run; the final model's example).
    """

    name = "MLflow logging"

    def __init__(
        self, settings: SearchSettings, *, in_worker: bool = False, data: Dataset | None = None
    ) -> None:
        self.settings = settings
        self.in_worker = in_worker
        self.data = data
        self._monitors: dict[int, SystemMetricsMonitor] = {}  # trial number -> its sampler
        self.tracking_uri = resolve_tracking_uri(settings.tracking_uri)
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None
        self._owns_parent = False  # this process made the parent run, so it ends it
        self._runs: dict[int, str] = {}  # trial number -> run id, for the trials of this process

    # -- the invocation ---------------------------------------------------------------------

    def on_search_start(self, study: optuna.Study) -> None:
        self.experiment_id = open_experiment(self.client, study.study_name, self.tracking_uri)
        inherited = os.environ.get(PARENT_RUN_ENV) if self.in_worker else None
        if inherited:
            self.parent_run_id = inherited
            return
        self._close_dead_parents()
        s = self.settings
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"search {time.strftime('%Y-%m-%d %H:%M:%S')}",
            tags={
                ROLE_TAG: "parent",
                "optuna.study_name": study.study_name,
                "optuna.storage": redact(s.storage),
                "search.host": socket.gethostname(),
                "search.pid": str(os.getpid()),
                MLFLOW_SOURCE_NAME: "search.run",
            },
        )
        self.parent_run_id = run.info.run_id
        self._owns_parent = True
        params = {
            "family": s.family,
            "dataset": s.dataset_name,
            "engine": getattr(s, "engine", "optuna"),
            "sampler": s.sampler,
            "pruner": s.pruner,
            "objectives": ",".join(s.objectives),
            "max_epochs": s.max_epochs,
            "n_trials": s.n_trials,
            "timeout_seconds": s.timeout,
            "refit": s.refit,
            "seed": s.seed,
            "val_fraction": s.val_fraction,
            "limit": s.limit,
            "workers": s.workers,
            "precision": precision_policy(),  # what --precision chose on this machine
            "storage": redact(s.storage),
        }
        self._log_params(self.parent_run_id, params)
        self._log_datasets(self.parent_run_id)
        ids = list(study.user_attrs.get(PARENT_RUNS_ATTR, []))
        study.set_user_attr(PARENT_RUNS_ATTR, [*ids, self.parent_run_id])
        if s.workers > 1:  # the workers, spawned after this, nest their trials under this run
            os.environ[PARENT_RUN_ENV] = self.parent_run_id

    def on_search_end(self, study: optuna.Study, summary: SearchSummary) -> None:
        if not self._owns_parent or self.parent_run_id is None:
            return
        os.environ.pop(PARENT_RUN_ENV, None)
        run_id = self.parent_run_id
        try:
            c = summary.counts
            metrics = {
                "trials_complete": c["complete"],
                "trials_pruned": c["pruned"],
                "trials_failed": c["failed"],
                "trials_this_run": summary.trials_this_run,
                "wall_seconds": summary.wall_seconds,
            }
            if summary.best and len(summary.objectives) == 1:
                best = summary.best[0]
                metrics["best_val_accuracy"] = float(best.value or 0.0)
                metrics["best_trial"] = best.number
                self.client.set_tag(run_id, "best_trial", str(best.number))
                best_run = TrialRecord.of(best).mlflow_run_id
                if best_run:
                    self.client.set_tag(run_id, "best_run_id", str(best_run))
            elif summary.best:
                self._log_pareto_front(run_id, summary)
            self._log_metrics(run_id, metrics)
            if summary.evaluation is not None:
                self._log_evaluation(run_id, study, summary.evaluation)
                if self.data is not None:
                    version = log_final_model(
                        self.client, self.tracking_uri, run_id, study.study_name, summary,
                        summary.evaluation, self.data,
                    )  # fmt: skip
                    if version is not None:
                        _log.info(
                            "final model registered in MLflow as models:/%s/%s",
                            study.study_name, version.version,
                        )  # fmt: skip
        finally:
            self.client.set_terminated(run_id, "KILLED" if summary.interrupted else "FINISHED")

    def _close_dead_parents(self) -> None:
        """End parent runs left RUNNING by a killed ``search.run`` on this machine."""
        assert self.experiment_id is not None
        host = socket.gethostname()
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{ROLE_TAG}` = 'parent' and attributes.status = 'RUNNING'",
        )
        for run in runs:
            tags = run.data.tags
            pid = tags.get("search.pid", "")
            if tags.get("search.host") == host and pid.isdigit() and not _pid_alive(int(pid)):
                self.client.set_terminated(run.info.run_id, "KILLED")
                _log.info("closed MLflow run %s of a search that was killed", run.info.run_id)

    # -- one trial --------------------------------------------------------------------------

    def on_trial_start(self, start: TrialStart) -> None:
        params: dict[str, Any] = {"epochs": start.epochs, **start.params}
        run_id = self._start_run(start.trial, start.family, params, start.preset)
        self.client.log_text(run_id, _model_summary(start.model), "model_summary.txt")

    def _start_run(
        self, trial: optuna.trial.Trial, family: str, params: dict[str, Any], preset: str | None
    ) -> str:
        """The trial's child run, with its parameters; linked both ways."""
        assert self.experiment_id is not None
        tags = {
            "optuna.study_name": trial.study.study_name,
            "optuna.trial_number": str(trial.number),
            "optuna.trial_state": "RUNNING",
            "family": family,
            MLFLOW_RUN_NAME: f"trial-{trial.number}",
            MLFLOW_SOURCE_NAME: "search.run",
        }
        if self.parent_run_id:
            tags[MLFLOW_PARENT_RUN_ID] = self.parent_run_id
        if preset:
            tags["preset"] = preset
        run = self.client.create_run(self.experiment_id, run_name=f"trial-{trial.number}", tags=tags)
        run_id = str(run.info.run_id)
        self._runs[trial.number] = run_id
        TrialRecord(
            mlflow_run_id=run_id, mlflow_experiment_id=self.experiment_id, mlflow_run=self._link(run_id)
        ).write(trial)
        self._log_params(run_id, {"family": family, **params})
        self._log_datasets(run_id)
        monitor = SystemMetricsMonitor(
            run_id, sampling_interval=SYSTEM_METRICS_SECONDS, tracking_uri=self.tracking_uri
        )
        monitor.start()
        self._monitors[trial.number] = monitor
        return run_id

    def on_epoch_end(self, trial: optuna.trial.Trial, epoch: int, logs: dict[str, float]) -> None:
        run_id = self._runs.get(trial.number)
        if run_id is None:
            return
        now = int(time.time() * 1000)
        metrics = [
            Metric(k, float(v), now, epoch + 1)
            for k, v in logs.items()
            if isinstance(v, int | float)
        ]
        self.client.log_batch(run_id, metrics=metrics, synchronous=True)

    def on_trial_end(self, outcome: TrialOutcome) -> None:
        trial = outcome.trial
        if trial.number not in self._runs:  # failed before training started (e.g. building)
            self._start_run(trial, self.settings.family, dict(trial.params), TrialRecord.of(trial).preset)
        run_id = self._runs.pop(trial.number)
        try:
            tags = [RunTag("optuna.trial_state", outcome.state.name)]
            if outcome.pruned_epoch is not None:
                tags.append(RunTag("pruned_epoch", str(outcome.pruned_epoch)))
                reason = TrialRecord.of(trial).pruned_reason
                if reason:
                    tags.append(RunTag("pruned_reason", str(reason)[:5000]))
            if outcome.error:
                tags.append(RunTag("error", outcome.error[:5000]))
            now = int(time.time() * 1000)
            metrics = [Metric(k, float(v), now, 0) for k, v in outcome.metrics.items()]
            self.client.log_batch(run_id, metrics=metrics, tags=tags, synchronous=True)
            if outcome.history.get("val_accuracy") or outcome.history.get("loss"):
                figure = learning_curves_figure(
                    outcome.history, f"trial {trial.number} ({outcome.state.name.lower()})"
                )
                # the page loads plotly.js from its CDN: 10 kB per trial instead of 4.6 MB
                html = figure.to_html(include_plotlyjs="cdn", full_html=True)
                self.client.log_text(run_id, html, "learning_curves.html")
        finally:
            monitor = self._monitors.pop(trial.number, None)
            if monitor is not None:  # its last samples logged before the run ends
                monitor.finish()
            self.client.set_terminated(run_id, _STATUS.get(outcome.state, "FAILED"))

    # -- helpers ----------------------------------------------------------------------------

    def _link(self, run_id: str) -> str:
        """The run's page: ``<server>/#/experiments/<id>/runs/<run>``; without a server, the part
        after the address ``python -m search.ui`` prints."""
        route = f"#/experiments/{self.experiment_id}/runs/{run_id}"
        if self.tracking_uri.startswith(("http://", "https://")):
            return f"{self.tracking_uri.rstrip('/')}/{route}"
        return route

    def _log_datasets(self, run_id: str) -> None:
        if self.data is not None:
            self.client.log_inputs(run_id, datasets=dataset_inputs(self.data))

    def _log_params(self, run_id: str, params: dict[str, Any]) -> None:
        items = [Param(k, _param_value(v)) for k, v in params.items() if v is not None]
        for i in range(0, len(items), _PARAM_BATCH):
            self.client.log_batch(run_id, params=items[i : i + _PARAM_BATCH], synchronous=True)

    def _log_metrics(self, run_id: str, metrics: dict[str, float | int]) -> None:
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        self.client.log_batch(run_id, metrics=batch, synchronous=True)

    def _log_pareto_front(self, run_id: str, summary: SearchSummary) -> None:
        rows = [
            {"trial": t.number, **dict(zip(summary.objectives, t.values, strict=True)), **t.params}
            for t in summary.best
        ]
        self.client.log_text(run_id, markdown_table(rows), "pareto_front.md")
        self._log_metrics(run_id, {"pareto_front_size": len(rows)})

    def _log_evaluation(self, run_id: str, study: optuna.Study, evaluation: TestEvaluation) -> None:
        """The best configuration on the test set: figures, tables and the model."""
        metrics = {"test_accuracy": evaluation.accuracy, "test_loss": evaluation.loss}
        refit, ensemble = evaluation.refit, evaluation.ensemble
        # the best trial's own run shows the test score of its model (or its refit) alone
        prefix = "refit_" if refit is not None else ""
        trial_metrics = {f"{prefix}test_accuracy": evaluation.accuracy, f"{prefix}test_loss": evaluation.loss}
        if refit is not None:  # the final model is the refit: say how it was trained
            metrics.update(refit_epochs=refit.epochs_run, refit_images=refit.images, refit_seconds=refit.train_seconds)
        if ensemble is not None:  # the final model averages several trials' models
            alone = float(evaluation.single_accuracy or 0.0)
            metrics.update(
                ensemble_size=len(ensemble.members), ensemble_val_accuracy=ensemble.val_accuracy,
                best_alone_test_accuracy=alone,
            )  # fmt: skip
            self.client.set_tag(run_id, "ensemble", ensemble.describe())
            trial_metrics = {f"{prefix}test_accuracy": alone, "ensemble_test_accuracy": evaluation.accuracy}
        self._log_metrics(run_id, metrics)
        best_run = next(
            (TrialRecord.of(t).mlflow_run_id for t in study.get_trials(deepcopy=False)
             if t.number == evaluation.trial_number),
            None,
        )  # fmt: skip
        if best_run:  # the best trial's own run shows its (refit's) test score too (it may be finished)
            self._log_metrics(str(best_run), trial_metrics)
        if evaluation.confusion is None:
            return
        rows = evaluation.per_class()
        title = f"{study.study_name}: trial {evaluation.trial_number} on the test set"
        self.client.log_text(run_id, markdown_table(rows), "evaluation/per_class.md")
        self.client.log_text(run_id, _csv(rows), "evaluation/per_class.csv")
        self.client.log_dict(run_id, evaluation.confusion.tolist(), "evaluation/confusion_matrix.json")
        figure = confusion_figure(evaluation.confusion, evaluation.class_names, title)
        self.client.log_text(
            run_id, figure.to_html(include_plotlyjs=True, full_html=True), "evaluation/confusion_matrix.html"
        )
        with tempfile.TemporaryDirectory() as tmp:
            png = Path(tmp) / "confusion_matrix.png"
            confusion_png(evaluation.confusion, evaluation.class_names, png, title)
            self.client.log_artifact(run_id, str(png), artifact_path="evaluation")
            if evaluation.model is not None:
                name = "ensemble-trial" if ensemble is not None else "final-trial" if refit is not None else "trial"
                model_path = Path(tmp) / f"{name}-{evaluation.trial_number}.keras"
                evaluation.model.save(model_path)
                self.client.log_artifact(run_id, str(model_path), artifact_path="model")


def _model_summary(model: Any) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=100)
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
