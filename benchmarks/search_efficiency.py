"""Who finds a good model sooner: Optuna (TPE with successive halving, the platform's default, from
scratch and starting from the documents' presets as ``make run`` does; TPE with Hyperband; random)
against keras-tuner (Hyperband, Bayesian optimisation), each with the same wall-clock budget on the
same space and data.

    python benchmarks/search_efficiency.py --quick   # lenet, 3,000 images, 45 s per method (~5 min)
    python benchmarks/search_efficiency.py           # cnn and lenet, all images, 20 min per method
    python benchmarks/search_efficiency.py --families lenet --budget 600 --limit 20000
    python benchmarks/search_efficiency.py --families lenet cnn --budget 180 --limit 12000 --max-epochs 6 \
        --methods optuna-tpe-sh-presets optuna-prior-sh-presets --seeds 0 1 2   # paired seeds

With several ``--seeds``, every method runs once per seed (seed k gives every method the same data
split), the methods alternating within each seed so that a machine whose load drifts hurts none
of them more; a table then gives per method the median and range over seeds of the best
validation accuracy, the share of trials and of training time spent on sampler-proposed
(non-preset) candidates, and per seed which method was ahead.

Every method is a real ``search.run`` invocation (the same code users run) into its own study of a
temporary storage, one after the other in this process (the data is loaded once). For each method
it prints the best validation accuracy reached, the time to reach 0.90 / 0.92 / 0.93 (wall time
since its search started, ``-`` if never), and its trial counts; then whether Optuna reached
keras-tuner Hyperband's final best within half of the time keras-tuner took. Writes a plotly page
of best validation accuracy against wall time (``--out``, default
``benchmarks/results/search_efficiency.html``).
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search.core import start_tensorflow  # noqa: E402

start_tensorflow()  # before Keras is imported: TensorFlow's start-up lines kept off stderr

import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from search import run  # noqa: E402
from search.core import setup_logging  # noqa: E402
from search.training import device_description  # noqa: E402

_log = logging.getLogger("search.benchmarks")

#: method name -> search.run options
METHODS = {
    "optuna-tpe-sh": ["--sampler", "tpe", "--pruner", "successive-halving"],  # search.run's default
    # make run's way: the documents' configurations of the family are the first trials
    "optuna-tpe-sh-presets": ["--sampler", "tpe", "--pruner", "successive-halving", "--enqueue-presets"],
    # the presets as a prior (search.samplers.PriorSampler, PriorBand/piBO-like), also queued first
    "optuna-prior-sh-presets": ["--sampler", "prior", "--pruner", "successive-halving", "--enqueue-presets"],
    "optuna-tpe-hyperband": ["--sampler", "tpe", "--pruner", "hyperband"],
    "optuna-random": ["--sampler", "random", "--pruner", "none"],
    "keras-tuner-hyperband": ["--engine", "keras-tuner", "--tuner", "hyperband"],
    "keras-tuner-bayesian": ["--engine", "keras-tuner", "--tuner", "bayesian"],
}
TARGETS = (0.90, 0.92, 0.93)


def curve(study: optuna.Study) -> list[tuple[float, float]]:
    """(seconds since the search started, best validation accuracy so far) at each finished trial.

    Only complete trials count, as for the study's best: a pruned trial's accuracy is not a model
    the user gets (its training was stopped and its model not kept)."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.datetime_start is not None]
    if not trials:
        return []
    start = min(t.datetime_start for t in trials)  # type: ignore[type-var]
    points, best = [], float("-inf")
    done = [t for t in trials if t.datetime_complete is not None]
    for t in sorted(done, key=lambda t: t.datetime_complete):  # type: ignore[arg-type,return-value]
        accuracy = t.value if t.state == TrialState.COMPLETE else None
        if accuracy is not None and accuracy > best:
            best = float(accuracy)
        if best > float("-inf"):
            points.append(((t.datetime_complete - start).total_seconds(), best))  # type: ignore[operator]
    return points


def time_to(points: list[tuple[float, float]], target: float) -> float | None:
    """First time the best accuracy reached ``target``."""
    return next((s for s, a in points if a >= target), None)


def proposed_share(study: optuna.Study) -> tuple[float, float, int]:
    """Share of the trials and of the training seconds spent on candidates the sampler proposed
    (trials without a ``preset`` user attribute), and how many of those trained an epoch or more."""
    trials = study.get_trials(deepcopy=False)
    proposed = [t for t in trials if not t.user_attrs.get("preset")]
    seconds = [float(t.user_attrs.get("training_seconds") or 0.0) for t in trials]
    own = sum(float(t.user_attrs.get("training_seconds") or 0.0) for t in proposed)
    trained = sum((t.user_attrs.get("epochs_run") or 0) >= 1 for t in proposed)
    return len(proposed) / max(len(trials), 1), own / max(sum(seconds), 1e-9), trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="lenet, 3,000 images, 45 s per method, 2 epochs")
    parser.add_argument("--families", nargs="+", help="default: cnn lenet (quick: lenet)")
    parser.add_argument("--budget", type=float, help="seconds per method (default 1200; quick 45)")
    parser.add_argument("--limit", type=int, help="images (default all; quick 3000)")
    parser.add_argument("--max-epochs", type=int, help="default 10 (quick 2)")
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=list(METHODS))
    parser.add_argument("--seed", type=int, default=0, help="every method's --seed (default 0)")
    parser.add_argument("--seeds", type=int, nargs="+", help="paired seeds: every method once per seed (default: --seed)")
    parser.add_argument("--out", default="benchmarks/results/search_efficiency.html")
    args = parser.parse_args()
    setup_logging()
    families = args.families or (["lenet"] if args.quick else ["cnn", "lenet"])
    budget = args.budget or (45.0 if args.quick else 1200.0)
    limit = args.limit or (3000 if args.quick else None)
    max_epochs = args.max_epochs or (2 if args.quick else 10)
    _log.info("machine: %s, %s, Python %s", platform.machine(), device_description(), platform.python_version())
    _log.info("families %s, %.0f s per method, %s images, max %d epochs, seed %d",
              families, budget, limit or "all", max_epochs, args.seed)  # fmt: skip
    curves: dict[str, list[tuple[float, float]]] = {}
    rows = []
    seeds = args.seeds or [args.seed]
    paired: dict[tuple[str, str, int], tuple[float | None, float, float, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{tmp}/optuna.db"
        for k, seed in enumerate(seeds):
            for family in families:
                # alternate which method goes first, so a drift in the machine's load favours none
                for method in args.methods if k % 2 == 0 else args.methods[::-1]:
                    name = f"{family}-{method}" + (f"-s{seed}" if len(seeds) > 1 else "")
                    argv = [
                        "--study", family, "--study-name", name, "--storage", storage,
                        "--artifacts", f"{tmp}/storage/artifacts", "--no-mlflow", "--no-test",
                        "--timeout", str(budget), "--max-epochs", str(max_epochs), "--seed", str(seed),
                        *(["--limit", str(limit)] if limit else []), *METHODS[method],
                    ]  # fmt: skip
                    _log.info("== %s", name)
                    run.main(argv)
                    study = optuna.load_study(study_name=name, storage=storage)
                    points = curves[name] = curve(study)
                    states = [t.state for t in study.get_trials(deepcopy=False)]
                    best = points[-1][1] if points else None
                    paired[family, method, seed] = (best, *proposed_share(study))
                    _log.info("== %s: best %s, proposed share of trials %.2f, of training time %.2f, %d trained",
                              name, best, *proposed_share(study))  # fmt: skip
                    rows.append(
                        (name, best, [time_to(points, g) for g in TARGETS],
                         states.count(TrialState.COMPLETE), states.count(TrialState.PRUNED), states.count(TrialState.FAIL))
                    )  # fmt: skip
    _log.info("| study | best val acc | " + " | ".join(f"time to {g:.2f}" for g in TARGETS) + " | complete | pruned | failed |")
    _log.info("|---|---:|" + "---:|" * len(TARGETS) + "---:|---:|---:|")
    for name, best, times, c, p, f in rows:
        cells = " | ".join(f"{t:.0f} s" if t is not None else "-" for t in times)
        _log.info("| %s | %s | %s | %d | %d | %d |", name, f"{best:.4f}" if best else "-", cells, c, p, f)
    if len(seeds) > 1:
        _paired_table(paired, families, args.methods, seeds)
    for family in families:
        kt_points = curves.get(f"{family}-keras-tuner-hyperband") or []
        for method in (m for m in METHODS if m.startswith("optuna-tpe")):  # every TPE method gets a verdict
            ours = curves.get(f"{family}-{method}") or []
            if not (kt_points and ours):
                continue
            kt_best, kt_time = kt_points[-1][1], time_to(kt_points, kt_points[-1][1])
            reached = time_to(ours, kt_best)
            verdict = "met" if reached is not None and kt_time and reached <= kt_time / 2 else "missed"
            _log.info(
                "%s: keras-tuner Hyperband's best %.4f at %.0f s; %s reached it at %s (target <= half: %s)",
                family, kt_best, kt_time or 0, method, f"{reached:.0f} s" if reached is not None else "never", verdict,
            )  # fmt: skip
    _write_figure(curves, Path(args.out))
    _log.info("wrote %s", args.out)


def _paired_table(
    paired: dict[tuple[str, str, int], tuple[float | None, float, float, int]],
    families: list[str],
    methods: list[str],
    seeds: list[int],
) -> None:
    """Per family and method: median and range of the best validation accuracy over the seeds, the
    proposed (non-preset) shares; then per seed the accuracies side by side and who was ahead."""
    import statistics

    _log.info("| family | method | median best val acc | range | proposed share of trials | of training time | proposed trials trained |")
    _log.info("|---|---|---:|---:|---:|---:|---:|")
    for family in families:
        for method in methods:
            got = [paired[family, method, s] for s in seeds if (family, method, s) in paired]
            accs = [g[0] for g in got if g[0] is not None]
            if not accs:
                continue
            _log.info(
                "| %s | %s | %.4f | %.4f-%.4f | %.2f | %.2f | %s |", family, method, statistics.median(accs),
                min(accs), max(accs), statistics.median(g[1] for g in got), statistics.median(g[2] for g in got),
                "/".join(str(g[3]) for g in got),
            )  # fmt: skip
    if len(methods) != 2:
        return
    a, b = methods
    _log.info("| family | seed | %s | %s | ahead |", a, b)
    _log.info("|---|---:|---:|---:|---|")
    for family in families:
        wins = 0
        for s in seeds:
            x, y = paired.get((family, a, s), (None,))[0], paired.get((family, b, s), (None,))[0]
            ahead = "-" if x is None or y is None or x == y else (b if y > x else a)
            wins += ahead == b
            _log.info("| %s | %d | %s | %s | %s |", family, s, f"{x:.4f}" if x else "-", f"{y:.4f}" if y else "-", ahead)
        _log.info("%s: %s ahead in %d of %d paired seeds", family, b, wins, len(seeds))


def _write_figure(curves: dict[str, list[tuple[float, float]]], path: Path) -> None:
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, points in curves.items():
        fig.add_trace(go.Scatter(x=[s for s, _ in points], y=[a for _, a in points], mode="lines+markers",
                                 line_shape="hv", name=name))  # fmt: skip
    fig.update_layout(title="Best validation accuracy against wall time", xaxis_title="seconds", yaxis_title="val accuracy")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(fig.to_html(include_plotlyjs=True))


if __name__ == "__main__":
    main()
