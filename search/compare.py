"""``python -m search.compare [STUDY ...]``: the documents' comparison tables, for every study.

One row per study — family, data set, engine, trials complete/pruned/failed, best validation
accuracy, test accuracy of the final model (the best trial's, its refit or the ensemble), the best
trial's training time and parameters, total search time —
printed and written to ``<out>/compare.md`` and ``<out>/compare.csv``. With ``--html``,
``<out>/compare.html``: validation accuracy against training time for every complete trial of
every study, with the Pareto front (most accurate for the time) marked.
"""

from __future__ import annotations

import csv
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from search.cli import ArgumentParser
from search.core import DEFAULT_STORAGE, exit_on_usage_error, setup_logging, start_tensorflow
from search.records import TrialRecord

if TYPE_CHECKING:
    import optuna
    import plotly.graph_objects as go

__all__ = ["COLUMNS", "DEFAULT_OUT", "accuracy_time_figure", "build_parser", "main", "pareto_front"]

_log = logging.getLogger("search")

#: the folder of compare.md, compare.csv and compare.html
DEFAULT_OUT = "reports"

#: the table's columns: (heading in the markdown table, StudyRow field and CSV column)
COLUMNS = (
    ("study", "study"),
    ("family", "family"),
    ("dataset", "dataset"),
    ("engine", "engine"),
    ("complete", "complete"),
    ("pruned", "pruned"),
    ("failed", "failed"),
    ("best val acc", "best_val_accuracy"),
    ("test acc of final", "test_accuracy"),  # the best trial's model, or its refit or ensemble
    ("best train s", "best_training_seconds"),
    ("search s", "search_seconds"),
    ("best params", "best_params"),
)

#: name of the Pareto front's trace in the HTML page
FRONT_NAME = "Pareto front"


def build_parser() -> ArgumentParser:
    """The command line of ``search.compare``.

    Returns:
        The parser (bad arguments: one line on stderr, exit code 2).
    """
    p = ArgumentParser(prog="python -m search.compare", description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("studies", nargs="*", metavar="STUDY", help="study names (default: every study in the storage)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument(
        "--out", default=DEFAULT_OUT, help=f"folder for compare.md, .csv and .html (default {DEFAULT_OUT})"
    )
    p.add_argument("--html", action="store_true", help="also write the accuracy-against-time page")
    p.add_argument("--space", metavar="SPEC", help="only the studies of this space (a family or search.run --space SPEC)")
    return p


def _cell(value: object) -> str:
    """A value as the markdown table shows it: accuracies to 4 places, seconds to 1."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if value <= 1 else f"{value:.1f}"
    if isinstance(value, int) and value >= 10_000:
        return f"{value:,}"
    return str(value)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """The points no other point beats on both time and accuracy.

    Args:
        points: (training seconds, accuracy) pairs; less time and more accuracy are better.

    Returns:
        Indices of the front's points, by increasing time (and so increasing accuracy).
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def accuracy_time_figure(studies: Sequence[optuna.Study]) -> go.Figure:
    """Validation accuracy against training time for every complete trial of ``studies``.

    One marker trace per study (hover: the trial's number and parameters), then a dashed line
    through the Pareto front over all of them. Multi-objective studies use their first value,
    the validation accuracy.

    Args:
        studies: the studies to draw.

    Returns:
        The figure: ``len(studies)`` traces, then the front's.
    """
    import plotly.graph_objects as go
    from optuna.trial import TrialState

    fig = go.Figure()
    everyone: list[tuple[float, float, str]] = []
    for study in studies:
        timed = [
            (t, seconds)
            for t in study.get_trials(deepcopy=False, states=[TrialState.COMPLETE])
            if (seconds := TrialRecord.of(t).training_seconds) is not None and t.values
        ]
        trials = [t for t, _ in timed]
        xs = [seconds for _, seconds in timed]
        ys = [float(t.values[0]) for t in trials]
        labels = [
            f"{study.study_name} trial {t.number}<br>" + "<br>".join(f"{k}={v}" for k, v in t.params.items())
            for t in trials
        ]
        everyone += zip(xs, ys, labels, strict=True)
        fig.add_trace(
            go.Scatter(x=xs, y=ys, mode="markers", name=study.study_name, text=labels, hoverinfo="text+x+y")
        )
    front = pareto_front([(x, y) for x, y, _ in everyone])
    fig.add_trace(
        go.Scatter(
            x=[everyone[i][0] for i in front],
            y=[everyone[i][1] for i in front],
            mode="lines+markers",
            name=FRONT_NAME,
            line={"dash": "dash", "color": "black"},
            text=[everyone[i][2] for i in front],
            hoverinfo="text+x+y",
        )
    )
    fig.update_layout(
        title="Validation accuracy against training time, every complete trial",
        xaxis_title="training seconds (log scale)",
        yaxis_title="validation accuracy",
        xaxis_type="log",
        height=600,
    )
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    """Write and log the comparison of the studies named on the command line (or of every study).

    Args:
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        0; an unknown study or a storage that cannot be opened exits with code 2 after one line
        on stderr, writing nothing.
    """
    args = build_parser().parse_args(argv)
    start_tensorflow()  # results read models with Keras: its start-up lines kept off stderr
    setup_logging()
    from search.figures import markdown_table
    from search.results import open_studies, studies_of_space, study_row

    with exit_on_usage_error("search.compare"):
        studies = open_studies(args.storage, args.studies)
        if args.space:
            studies = studies_of_space(studies, args.space)
    if not studies:
        _log.info("no studies in the storage yet: run python -m search.run first")
        return 0
    rows = [study_row(s).as_dict() for s in studies]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown_table([{head: _cell(row[key]) for head, key in COLUMNS} for row in rows])
    (out / "compare.md").write_text(text)
    with (out / "compare.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[key for _, key in COLUMNS])
        writer.writeheader()
        writer.writerows({key: row[key] for _, key in COLUMNS} for row in rows)
    for line in text.splitlines():
        _log.info("%s", line)
    written = [out / "compare.md", out / "compare.csv"]
    if args.html:
        page = out / "compare.html"
        page.write_text(accuracy_time_figure(studies).to_html(include_plotlyjs=True, full_html=True))
        written.append(page)
    _log.info("wrote %s", ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
