"""``python -m search.report --study cnn``: one self-contained HTML page about a study.

Optuna's plotly visualisations (optimisation history, intermediate values, parameter importances,
parallel coordinates, slices; the Pareto front of a multi-objective study), then the best trial:
its parameters, learning curves, and its test evaluation — per-class precision/recall/F1 and the
confusion matrix. plotly.js is embedded once, so the page opens offline. The page is also logged
to the study's latest MLflow parent run (``--no-mlflow`` to skip).
"""

from __future__ import annotations

import html
import logging
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from search.cli import ArgumentParser, add_study_options
from search.core import DEFAULT_STORAGE, exit_on_usage_error, setup_logging, start_tensorflow
from search.records import CURVES, TrialRecord

if TYPE_CHECKING:
    import optuna
    import plotly.graph_objects as go
    from optuna.trial import FrozenTrial

__all__ = ["DEFAULT_OUT_DIR", "build_parser", "build_report", "main"]

_log = logging.getLogger("search")

#: the report's folder when ``--out`` is not given: ``reports/<study>.html``
DEFAULT_OUT_DIR = "reports"


def build_parser() -> ArgumentParser:
    """The command line of ``search.report``.

    Returns:
        The parser (bad arguments: one line on stderr, exit code 2).
    """
    p = ArgumentParser(prog="python -m search.report", description="Write one HTML report of a study.")
    add_study_options(p)
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument("--out", help=f"the HTML file (default {DEFAULT_OUT_DIR}/<study>.html)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)")
    p.add_argument("--no-mlflow", action="store_true", help="neither read the learning curves from MLflow nor log the report there")
    return p


def _history(trial: FrozenTrial, tracking_uri: str | None, use_mlflow: bool) -> tuple[dict[str, list[float]], str]:
    """The trial's per-epoch curves and where they came from.

    In order: the trial's user attribute ``history`` (Keras' per-epoch logs, when the objective
    kept them in Optuna); its MLflow run (``mlflow_run_id``), unless ``use_mlflow`` is false; the
    validation accuracy it reported to Optuna after each epoch (its intermediate values).

    Args:
        trial: the trial.
        tracking_uri: the MLflow tracking URI (``None``: ``$MLFLOW_TRACKING_URI`` or the default).
        use_mlflow: whether MLflow may be read at all.

    Returns:
        ``{metric: values per epoch}`` (possibly empty) and a phrase naming the source.
    """
    record = TrialRecord.of(trial)
    kept = record.history
    if kept is not None and any(kept.values()):
        curves = {str(k): [float("nan") if v is None else float(v) for v in vs] for k, vs in kept.items()}
        return curves, "the user attribute history of the trial in Optuna"
    run_id = record.mlflow_run_id
    if run_id and use_mlflow:
        from search.tracking import metric_histories

        try:
            curves = metric_histories(str(run_id), CURVES, tracking_uri)
            if any(curves.values()):
                return {k: v for k, v in curves.items() if v}, f"MLflow run {run_id}"
        except Exception as exc:  # store moved or unreachable: use Optuna's values
            _log.warning("learning curves not read from MLflow (%s); using Optuna's values", exc)
    steps = sorted(trial.intermediate_values)
    values = {"val_accuracy": [float(trial.intermediate_values[s]) for s in steps]} if steps else {}
    return values, "the validation accuracy reported to Optuna after each epoch"


def _figures(study: optuna.Study) -> list[tuple[str, Callable[[], go.Figure]]]:
    """Optuna's visualisations that fit ``study``, as (title, factory), in the page's order.

    A multi-objective study is drawn on its first value, the validation accuracy, and gets its
    Pareto front; it has no intermediate values (Optuna's pruning reports need one objective).
    """
    from optuna import visualization as vis

    multi = len(study.directions) > 1
    accuracy: dict[str, Any] = {"target": lambda t: t.values[0], "target_name": "val_accuracy"} if multi else {}
    figures: list[tuple[str, Callable[[], go.Figure]]] = [
        ("Optimization history", lambda: vis.plot_optimization_history(study, **accuracy)),
    ]
    if not multi:
        figures.append(("Intermediate values", lambda: vis.plot_intermediate_values(study)))
    figures += [
        ("Parameter importances", lambda: vis.plot_param_importances(study, **accuracy)),
        ("Parallel coordinates", lambda: vis.plot_parallel_coordinate(study, **accuracy)),
        ("Slices", lambda: vis.plot_slice(study, **accuracy)),
    ]
    if multi:
        names = [str(n) for n in study.user_attrs.get("objectives", [])] or None
        if names is not None and len(names) != len(study.directions):
            names = None
        figures.append(("Pareto front", lambda: vis.plot_pareto_front(study, target_names=names)))
    return figures


def _unavailable(title: str, complete: int, reported: bool) -> str | None:
    """Why the figure ``title`` cannot be drawn, or ``None`` when it can.

    Args:
        title: the figure's title, from :func:`_figures`.
        complete: the study's number of complete trials.
        reported: whether any trial reported intermediate values.
    """
    if complete == 0:
        return "no trial has completed yet"
    if title == "Parameter importances" and complete < 2:
        return "parameter importances need at least 2 complete trials"
    if title == "Intermediate values" and not reported:
        return "no trial reported per-epoch values to Optuna (they are reported for its pruner: --pruner none skips it)"
    return None


def build_report(study: optuna.Study, tracking_uri: str | None = None, use_mlflow: bool = True) -> str:
    """The report page of ``study`` as HTML text.

    Args:
        study: the study.
        tracking_uri: the MLflow store to read the best trial's learning curves from (``None``:
            ``$MLFLOW_TRACKING_URI`` or the default).
        use_mlflow: false to draw the learning curves from Optuna's records only.

    Returns:
        A complete HTML page; plotly.js is inlined in its first figure, and every other figure
        uses it, so the page needs no network.
    """
    from optuna.trial import TrialState

    from search.figures import confusion_figure, learning_curves_figure, markdown_table
    from search.results import best_trial, study_row

    parts: list[str] = []
    embedded = False

    def plot(fig: go.Figure) -> str:
        nonlocal embedded
        div = str(fig.to_html(full_html=False, include_plotlyjs=not embedded))
        embedded = True
        return div

    row = study_row(study)
    parts.append(f"<h1>Study {html.escape(study.study_name)}</h1>")
    parts.append(
        f"<p>{html.escape(row.family)} on {html.escape(row.dataset)} ({html.escape(row.engine)}): "
        f"{row.complete} complete, {row.pruned} pruned, {row.failed} failed trials; "
        f"{row.search_seconds:.0f} s of trials in all.</p>"
    )
    trials = study.get_trials(deepcopy=False)
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    reported = any(t.intermediate_values for t in trials)
    for title, factory in _figures(study):
        parts.append(f"<h2>{title}</h2>")
        reason = _unavailable(title, complete, reported)
        if reason is None:
            try:
                with warnings.catch_warnings():  # e.g. "few trials for this importance": noted below
                    warnings.simplefilter("ignore")
                    figure = factory()
                parts.append(plot(figure))
                continue
            except Exception as exc:  # noqa: BLE001 - one figure Optuna cannot draw is a note, not a lost page
                reason = str(exc) or type(exc).__name__
        _log.info("%s: not drawn (%s)", title.lower(), reason)
        parts.append(f"<p class='note'>Not available: {html.escape(reason)}</p>")
    best = best_trial(study)
    if best is None:
        return _page(study.study_name, parts)
    record = TrialRecord.of(best)
    parts.append(f"<h2>Best trial {best.number}</h2>")
    facts = [f"validation accuracy {best.values[0]:.4f}"]
    if record.training_seconds is not None:
        facts.append(f"{record.training_seconds:.1f} s training")
    if record.param_count is not None:
        facts.append(f"{record.param_count:,} parameters")
    if record.epochs_run is not None:
        facts.append(f"{record.epochs_run} epochs")
    parts.append(f"<p>{html.escape('; '.join(facts))}</p>")
    parts.append(_html_table([{"parameter": k, "value": v} for k, v in best.params.items()]))
    parts.append("<h3>Learning curves</h3>")
    history, source = _history(best, tracking_uri, use_mlflow)
    if history:
        parts.append(f"<p class='note'>From {html.escape(source)}.</p>")
        parts.append(plot(learning_curves_figure(history, f"trial {best.number}")))
    else:
        parts.append("<p class='note'>Not available: the trial recorded no per-epoch values.</p>")
    evaluation = study.user_attrs.get("test_evaluation") or {}
    if evaluation.get("trial") == best.number and evaluation.get("confusion"):
        names = [str(n) for n in evaluation.get("class_names") or range(len(evaluation["confusion"]))]
        parts.append("<h2>Test set</h2>")
        refit = evaluation.get("refit")
        how = f" (refit on {refit['images']:,} training + validation images for {refit['epochs']} epochs)" if refit else ""
        ensemble = evaluation.get("ensemble")
        if ensemble:
            members = ", ".join(f"{t} ({w:.2f})" for t, w in zip(ensemble["members"], ensemble["weights"]))
            how += f", averaged with its ensemble: trials (weights) {members}; trial {best.number} alone: {ensemble['best_alone_accuracy']:.4f}"
        parts.append(f"<p>test accuracy {evaluation['accuracy']:.4f}, loss {evaluation['loss']:.4f}{html.escape(how)}</p>")
        parts.append("<h3>Per class</h3>")
        parts.append(_html_table(evaluation.get("per_class") or []))
        parts.append("<h3>Confusion matrix</h3>")
        title = f"trial {best.number} on the test set"
        parts.append(plot(confusion_figure(np.asarray(evaluation["confusion"]), names, title)))
        if evaluation.get("per_class"):
            parts.append(f"<!-- per-class table as markdown:\n{markdown_table(evaluation['per_class'])}-->")
    else:
        parts.append("<h2>Test set</h2>")
        parts.append("<p class='note'>Not available: the best trial has not been evaluated on the test set.</p>")
    return _page(study.study_name, parts)


def _html_table(rows: Sequence[Mapping[str, object]]) -> str:
    """``rows`` as an HTML table (columns: the first row's keys)."""
    if not rows:
        return ""
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, parts: list[str]) -> str:
    """The whole HTML page around ``parts``."""
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        ".note{color:#777}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Write the report of the study named on the command line, and log it to MLflow.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        0; an unknown family or study, a storage that cannot be opened or a tracking URI MLflow
        cannot use exits with code 2 after one line on stderr, writing nothing. A report that cannot be logged to MLflow is
        still written (with a warning).
    """
    args = build_parser().parse_args(argv)
    start_tensorflow()  # results read models with Keras: its start-up lines kept off stderr
    setup_logging()
    from search.results import load_study, study_name_for

    with exit_on_usage_error("search.report"):
        name = study_name_for(args.space or args.study, args.dataset, args.study_name, args.engine, args.tuner)
        study = load_study(args.storage, name)
        if not args.no_mlflow:
            from search.tracking import check_tracking_uri

            check_tracking_uri(args.tracking_uri)
    use_mlflow = not args.no_mlflow
    out = Path(args.out or Path(DEFAULT_OUT_DIR) / f"{name}.html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(study, args.tracking_uri, use_mlflow))
    _log.info("wrote %s (%.1f MB)", out, out.stat().st_size / 1e6)
    if use_mlflow:
        from mlflow.exceptions import MlflowException

        from search.core import resolve_tracking_uri, sqlite_file
        from search.tracking import log_report

        uri = resolve_tracking_uri(args.tracking_uri)
        database = sqlite_file(uri)
        if database is not None and not database.is_file():  # do not create an empty store
            _log.info("not logged to MLflow: no tracking store at %s", uri)
            return 0
        try:
            run_id = log_report(name, args.tracking_uri, out)
        except (MlflowException, OSError, ValueError) as exc:
            _log.warning("report not logged to MLflow (%s): %s", uri, exc)
        else:
            if run_id:
                _log.info("logged to MLflow run %s as report/%s", run_id, out.name)
            else:
                _log.info("not logged to MLflow: %s has no run of study %s", uri, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
