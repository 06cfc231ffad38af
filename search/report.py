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
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from search._cli import ArgumentParser, exit_on_usage_error, setup_logging  # noqa: E402
from search._paths import DEFAULT_STORAGE  # noqa: E402

__all__ = ["build_parser", "build_report", "main"]

_log = logging.getLogger("search")


def build_parser() -> ArgumentParser:
    """The command line of ``search.report``."""
    p = ArgumentParser(prog="python -m search.report", description="Write one HTML report of a study.")
    p.add_argument("--study", required=True, metavar="FAMILY", help="the family searched (names the study)")
    p.add_argument("--dataset", default=None, help="its data set (default: the family's)")
    p.add_argument("--study-name", help="default: FAMILY-DATASET, as search.run")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument("--out", help="the HTML file (default reports/<study>.html)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)")
    p.add_argument("--no-mlflow", action="store_true", help="neither read learning curves from nor log the report to MLflow")
    return p


def _history(trial: Any, tracking_uri: str | None) -> dict[str, list[float]]:
    """The best trial's per-epoch curves: from its MLflow run, else Optuna's intermediate values."""
    run_id = trial.user_attrs.get("mlflow_run_id")
    if run_id and tracking_uri is not None:
        try:
            from mlflow import MlflowClient

            from search._paths import resolve_tracking_uri

            client = MlflowClient(tracking_uri=resolve_tracking_uri(tracking_uri or None))
            curves = {
                key: [m.value for m in sorted(client.get_metric_history(str(run_id), key), key=lambda m: m.step)]
                for key in ("loss", "accuracy", "val_loss", "val_accuracy")
            }
            if any(curves.values()):
                return curves
        except Exception as exc:  # no MLflow store here: fall back to what Optuna has
            _log.warning("learning curves not read from MLflow (%s); using Optuna's values", exc)
    steps = sorted(trial.intermediate_values)
    return {"val_accuracy": [trial.intermediate_values[s] for s in steps]}


def _figures(study: Any) -> list[tuple[str, Callable[[], Any]]]:
    """The Optuna visualisations that fit this study, as (title, factory)."""
    from optuna import visualization as vis

    multi = len(study.directions) > 1
    accuracy: dict[str, Any] = {"target": lambda t: t.values[0], "target_name": "val_accuracy"} if multi else {}
    figures: list[tuple[str, Callable[[], Any]]] = [
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
        figures.append(("Pareto front", lambda: vis.plot_pareto_front(study, target_names=names)))
    return figures


def build_report(study: Any, tracking_uri: str | None) -> str:
    """The report page of ``study`` as HTML text."""
    from optuna.trial import TrialState

    from search._figures import confusion_figure, learning_curves_figure, markdown_table
    from search._results import best_trial, study_row

    parts: list[str] = []
    first = [True]

    def plot(fig: Any) -> str:
        embed = first[0]
        first[0] = False
        return str(fig.to_html(full_html=False, include_plotlyjs=embed))

    row = study_row(study)
    parts.append(f"<h1>Study {html.escape(study.study_name)}</h1>")
    parts.append(
        f"<p>{html.escape(row.family)} on {html.escape(row.dataset)}: {row.complete} complete, "
        f"{row.pruned} pruned, {row.failed} failed trials; {row.search_seconds:.0f} s of training in all.</p>"
    )
    complete = study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])
    for title, factory in _figures(study):
        parts.append(f"<h2>{title}</h2>")
        try:
            if not complete:
                raise ValueError("no completed trial yet")
            parts.append(plot(factory()))
        except Exception as exc:  # e.g. importances of a study with a single trial
            parts.append(f"<p class='note'>Not available: {html.escape(str(exc) or type(exc).__name__)}</p>")
    best = best_trial(study)
    if best is None:
        return _page(study.study_name, parts)
    attrs = best.user_attrs
    parts.append(f"<h2>Best trial {best.number}</h2>")
    parts.append(
        f"<p>validation accuracy {best.values[0]:.4f}; {attrs.get('training_seconds', 0):.1f} s training; "
        f"{attrs.get('param_count', 0):,} parameters; {attrs.get('epochs_run', '?')} epochs</p>"
    )
    parts.append(_html_table([{"parameter": k, "value": v} for k, v in best.params.items()]))
    parts.append("<h3>Learning curves</h3>")
    parts.append(plot(learning_curves_figure(_history(best, tracking_uri), f"trial {best.number}")))
    evaluation = study.user_attrs.get("test_evaluation") or {}
    if evaluation.get("trial") == best.number and evaluation.get("confusion"):
        parts.append("<h2>Test set</h2>")
        parts.append(f"<p>test accuracy {evaluation['accuracy']:.4f}, loss {evaluation['loss']:.4f}</p>")
        parts.append("<h3>Per class</h3>")
        parts.append(_html_table(evaluation["per_class"]))
        parts.append("<h3>Confusion matrix</h3>")
        title = f"trial {best.number} on the test set"
        parts.append(plot(confusion_figure(evaluation["confusion"], evaluation["class_names"], title)))
        parts.append(f"<!-- per-class table as markdown:\n{markdown_table(evaluation['per_class'])}-->")
    return _page(study.study_name, parts)


def _html_table(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, parts: list[str]) -> str:
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
    """Entry point; returns the exit code (2 for bad input)."""
    args = build_parser().parse_args(argv)
    setup_logging()
    from search._results import load_study, study_name_for

    with exit_on_usage_error("search.report"):
        name = study_name_for(args.study, args.dataset, args.study_name)
        study = load_study(args.storage, name)
    tracking = None if args.no_mlflow else (args.tracking_uri or "")
    out = Path(args.out or f"reports/{name}.html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(study, tracking))
    _log.info("wrote %s", out)
    if not args.no_mlflow:
        from search.tracking import log_report

        try:
            run_id = log_report(name, args.tracking_uri, out)
        except Exception as exc:
            _log.warning("report not logged to MLflow: %s", exc)
        else:
            if run_id:
                _log.info("logged to MLflow run %s (artifact report/%s)", run_id, out.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
