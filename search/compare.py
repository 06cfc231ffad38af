"""``python -m search.compare [STUDY ...]``: the documents' comparison tables, for every study.

One row per study — family, data set, engine, trials complete/pruned/failed, best validation
accuracy, test accuracy of the best, its training time and parameters, total search time —
printed and written to ``<out>/compare.md`` and ``<out>/compare.csv``. With ``--html``,
``<out>/compare.html``: validation accuracy against training time for every complete trial of
every study, with the Pareto front (most accurate for the time) marked.
"""

from __future__ import annotations

import csv
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from search._cli import ArgumentParser, exit_on_usage_error, setup_logging  # noqa: E402
from search._paths import DEFAULT_STORAGE  # noqa: E402

__all__ = ["COLUMNS", "build_parser", "main", "pareto_front", "write_html"]

_log = logging.getLogger("search")

#: the table's columns: (heading, StudyRow field)
COLUMNS = (
    ("study", "study"),
    ("family", "family"),
    ("dataset", "dataset"),
    ("engine", "engine"),
    ("complete", "complete"),
    ("pruned", "pruned"),
    ("failed", "failed"),
    ("best val acc", "best_val_accuracy"),
    ("test acc of best", "test_accuracy"),
    ("best train s", "best_training_seconds"),
    ("search s", "search_seconds"),
    ("best params", "best_params"),
)


def build_parser() -> ArgumentParser:
    """The command line of ``search.compare``."""
    p = ArgumentParser(prog="python -m search.compare", description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("studies", nargs="*", metavar="STUDY", help="study names (default: every study in the storage)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument("--out", default="reports", help="folder for compare.md, compare.csv, compare.html (default reports)")
    p.add_argument("--html", action="store_true", help="also write the accuracy-against-time page")
    return p


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if value <= 1 else f"{value:.1f}"
    if isinstance(value, int) and value >= 10_000:
        return f"{value:,}"
    return str(value)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points (training seconds, accuracy) no other point beats on both, by time."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def write_html(studies: Sequence[object], path: Path) -> int:
    """Accuracy against training time for every complete trial; returns the number of traces."""
    import plotly.graph_objects as go
    from optuna.trial import TrialState

    fig = go.Figure()
    everyone: list[tuple[float, float, str]] = []
    for study in studies:
        trials = [
            t for t in study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])  # type: ignore[attr-defined]
            if "training_seconds" in t.user_attrs
        ]
        xs = [float(t.user_attrs["training_seconds"]) for t in trials]
        ys = [float(t.values[0]) for t in trials]
        labels = [
            f"{study.study_name} trial {t.number}<br>"  # type: ignore[attr-defined]
            + "<br>".join(f"{k}={v}" for k, v in t.params.items())
            for t in trials
        ]
        everyone += zip(xs, ys, labels, strict=True)
        fig.add_trace(
            go.Scatter(x=xs, y=ys, mode="markers", name=study.study_name, text=labels, hoverinfo="text+x+y")  # type: ignore[attr-defined]
        )
    front = pareto_front([(x, y) for x, y, _ in everyone])
    fig.add_trace(
        go.Scatter(
            x=[everyone[i][0] for i in front],
            y=[everyone[i][1] for i in front],
            mode="lines+markers",
            name="Pareto front",
            line={"dash": "dash", "color": "black"},
            text=[everyone[i][2] for i in front],
            hoverinfo="text+x+y",
        )
    )
    fig.update_layout(
        title="Validation accuracy against training time, every complete trial",
        xaxis_title="training seconds",
        yaxis_title="validation accuracy",
        xaxis_type="log",
    )
    path.write_text(fig.to_html(include_plotlyjs=True, full_html=True))
    return len(fig.data)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for bad input)."""
    args = build_parser().parse_args(argv)
    setup_logging()
    from search._figures import markdown_table
    from search._results import open_studies, study_row

    with exit_on_usage_error("search.compare"):
        studies = open_studies(args.storage, args.studies)
    if not studies:
        _log.info("no studies in the storage yet: run python -m search.run first")
        return 0
    rows = [study_row(s).as_dict() for s in studies]
    table = [{head: _cell(row[key]) for head, key in COLUMNS} for row in rows]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown_table(table)
    (out / "compare.md").write_text(text)
    with (out / "compare.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[key for _, key in COLUMNS])
        writer.writeheader()
        writer.writerows({key: row[key] for _, key in COLUMNS} for row in rows)
    for line in text.splitlines():
        _log.info("%s", line)
    written = [out / "compare.md", out / "compare.csv"]
    if args.html:
        write_html(studies, out / "compare.html")
        written.append(out / "compare.html")
    _log.info("wrote %s", ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
