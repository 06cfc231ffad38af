"""Who finds a good model sooner: the platform's default search (``make run``'s: the documents'
presets first, then the default sampler and pruner) against Optuna TPE + Hyperband, Optuna random,
keras-tuner (Hyperband, Bayesian optimisation) and NePS PriorBand, each with the same wall-clock
budget, space and data, over several paired seeds.

    python benchmarks/search_efficiency.py --quick                   # lenet and cnn, 5 seeds, 120 s each
    python benchmarks/search_efficiency.py --quick --methods default keras-tuner-hyperband
    python benchmarks/search_efficiency.py                           # all images, 20 min each, 5 seeds
    python benchmarks/search_efficiency.py --report                  # tables and page from the results file

**Paired seeds.** Seed k gives every method the same data split (``--seed k``); within a seed the
methods alternate their order from one seed to the next, so a drift in the machine's load favours
none of them. Run it pinned to one core (``taskset -c 1``) to keep other work from stealing time.

**Results file.** Every run appends one JSON line (method, family, seed, setting, its curve of
best validation accuracy against wall time, trial counts, the share of the training time spent on
sampler-proposed candidates) to ``--results``; runs already there are skipped, so the benchmark can
be stopped and resumed, and methods run on different days stay side by side per setting.

**Report** (after each run, or alone with ``--report``), per family and method over the seeds:
median and range of the best validation accuracy at 25/50/100 % of the budget; median time to each
target (``-`` when fewer than half the seeds reached it); trials complete / pruned / unbuildable;
the share of training time on sampler-proposed (non-preset) candidates. Then the verdicts: "A beats
B" only when A is ahead of B in at least 4 of 5 paired seeds (80 % of the seeds both ran), on best
accuracy at the budget and on time to the middle target. A plotly page shows per method the median
curve and the band between the lowest and highest seed (``--out``).

NePS (package ``neural-pipeline-search``, the optional extra ``bench``) runs through
``benchmarks/neps_priorband.py`` with the documents' presets as its prior; without it installed
that method is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search.core import start_tensorflow

start_tensorflow()  # before Keras is imported: TensorFlow's start-up lines kept off stderr

import optuna
from optuna.trial import TrialState

from search import run
from search.core import setup_logging
from search.final import search_effort
from search.training import device_description

_log = logging.getLogger("search.benchmarks")

#: method name -> search.run options ("neps-priorband" runs through benchmarks/neps_priorband.py)
METHODS: dict[str, list[str]] = {
    # make run's search: the documents' configurations first, then search.run's default sampler/pruner
    "default": ["--enqueue-presets", "--cv", "off"],  # search vs search: no model-selection step after it
    "optuna-tpe-hyperband": ["--sampler", "tpe", "--pruner", "hyperband"],
    "optuna-random": ["--sampler", "random", "--pruner", "none"],
    "keras-tuner-hyperband": ["--engine", "keras-tuner", "--tuner", "hyperband"],
    "keras-tuner-bayesian": ["--engine", "keras-tuner", "--tuner", "bayesian"],
    "neps-priorband": [],
    # variants, for ablations
    "optuna-tpe-sh": ["--sampler", "tpe", "--pruner", "successive-halving"],
    "optuna-tpe-sh-presets": ["--sampler", "tpe", "--pruner", "successive-halving", "--enqueue-presets"],
    "optuna-prior-sh-presets": ["--sampler", "prior", "--pruner", "successive-halving", "--enqueue-presets"],
    # the default until 2026-12-01: TPE after the presets
    "tpe-presets": ["--sampler", "tpe", "--enqueue-presets", "--cv", "off"],
    # the prior sampler alone: the presets only as the centres of its draws, none trained as such
    "prior-no-presets": ["--sampler", "prior", "--cv", "off"],
}
MAIN_METHODS = ["default", "optuna-tpe-hyperband", "optuna-random", "keras-tuner-hyperband",
                "keras-tuner-bayesian", "neps-priorband"]  # fmt: skip
QUICK = {"budget": 120.0, "limit": 10_000, "max_epochs": 6, "targets": (0.86, 0.88, 0.90)}
FULL = {"budget": 1200.0, "limit": None, "max_epochs": 10, "targets": (0.90, 0.92, 0.93)}
FRACTIONS = (0.25, 0.5, 1.0)

Curve = list[tuple[float, float]]


def curve(study: optuna.Study) -> Curve:
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
        if t.state == TrialState.COMPLETE and t.value is not None and t.value > best:
            best = float(t.value)
        if best > float("-inf"):
            points.append(((t.datetime_complete - start).total_seconds(), best))  # type: ignore[operator]
    return points


def best_at(points: Curve, seconds: float) -> float | None:
    """The best accuracy reached by ``seconds``."""
    got = [a for s, a in points if s <= seconds]
    return got[-1] if got else None


def time_to(points: Curve, target: float) -> float | None:
    """First time the best accuracy reached ``target``."""
    return next((s for s, a in points if a >= target), None)


def study_record(study: optuna.Study) -> dict[str, Any]:
    """Counts and shares of one finished study: complete / pruned / unbuildable / failed trials,
    the share of training seconds spent on sampler-proposed (non-preset) candidates, and how many
    of those trained at least an epoch."""
    trials = study.get_trials(deepcopy=False)
    unbuildable = [t for t in trials if str(t.user_attrs.get("pruned_reason", "")).startswith("cannot be built")]
    effort = search_effort(trials)
    states = [t.state for t in trials]
    return {
        "curve": curve(study),
        "complete": states.count(TrialState.COMPLETE),
        "pruned": states.count(TrialState.PRUNED) - len(unbuildable),
        "unbuildable": len(unbuildable),
        "failed": states.count(TrialState.FAIL),
        "proposed_time_share": effort.proposed_share,
        "proposed_trained": effort.proposed_trials,
        "rejected_unbuildable": effort.rejected,
        "proposed_beat_presets": _proposed_beats_presets(trials),
    }


def _proposed_beats_presets(trials: list[optuna.trial.FrozenTrial]) -> bool | None:
    """Whether a sampler-proposed complete trial beat every preset's validation accuracy (None: no preset ran)."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    presets = [t.value for t in done if t.user_attrs.get("preset")]
    proposed = [t.value for t in done if not t.user_attrs.get("preset")]
    if not presets:
        return None
    return bool(proposed) and max(proposed) > max(presets)  # type: ignore[type-var]


def run_method(method: str, family: str, seed: int, setting: dict[str, Any], tmp: str) -> dict[str, Any] | None:
    """One method on one family and seed: a real ``search.run`` (or NePS), its record."""
    name = f"{family}-{method}-s{seed}"
    budget, limit, max_epochs = setting["budget"], setting["limit"], setting["max_epochs"]
    if method == "neps-priorband":
        try:
            import neps  # noqa: F401
        except ImportError:
            _log.warning("skipping %s: NePS is not installed (pip install -e '.[bench]')", name)
            return None
        from neps_priorband import run_priorband  # type: ignore[import-not-found]

        from search.data import load_dataset

        data = load_dataset("fashion_mnist", val_fraction=0.1, limit=limit, seed=seed)
        evaluations = run_priorband(family, data, seed=seed, budget_seconds=budget, max_epochs=max_epochs,
                                    root=Path(tmp) / name)  # fmt: skip
        return _neps_record(evaluations)
    storage = f"sqlite:///{tmp}/optuna.db"
    argv = [
        "--study", family, "--study-name", name, "--storage", storage,
        "--artifacts", f"{tmp}/storage/artifacts", "--no-mlflow", "--no-test", "--quiet",
        "--timeout", str(budget), "--max-epochs", str(max_epochs), "--seed", str(seed),
        *(["--limit", str(limit)] if limit else []), *METHODS[method],
    ]  # fmt: skip
    run.main(argv)
    return study_record(optuna.load_study(study_name=name, storage=storage))


def _neps_record(evaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """The record of a NePS run from its evaluations (benchmarks/neps_priorband.py)."""
    points, best = [], float("-inf")
    for e in sorted(evaluations, key=lambda e: e["seconds"]):
        if e.get("val_accuracy") is not None and e["val_accuracy"] > best:
            best = float(e["val_accuracy"])
        if best > float("-inf"):
            points.append((float(e["seconds"]), best))
    states = [e["state"] for e in evaluations]
    seconds = [float(e.get("training_seconds") or 0.0) for e in evaluations]
    own = sum(float(e.get("training_seconds") or 0.0) for e in evaluations if not e.get("preset"))
    return {
        "curve": points, "complete": states.count("complete"), "pruned": 0,
        "unbuildable": states.count("unbuildable"), "failed": states.count("failed"),
        "proposed_time_share": own / max(sum(seconds), 1e-9),
        "proposed_trained": sum(1 for e in evaluations if not e.get("preset") and e["state"] == "complete"),
        "proposed_beat_presets": None,
    }  # fmt: skip


def setting_key(setting: dict[str, Any]) -> str:
    return f"{setting['budget']:.0f}s-{setting['limit'] or 'all'}img-{setting['max_epochs']}ep"


def load_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 images, 120 s per method and seed, 6 epochs")
    parser.add_argument("--families", nargs="+", default=["lenet", "cnn"])
    parser.add_argument("--budget", type=float, help="seconds per method and seed (default 1200; quick 120)")
    parser.add_argument("--limit", type=int, help="images (default all; quick 10000)")
    parser.add_argument("--max-epochs", type=int, help="default 10 (quick 6)")
    parser.add_argument("--targets", type=float, nargs="+", help="accuracies to time (default 0.90 0.92 0.93; quick 0.86 0.88 0.90)")
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=MAIN_METHODS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="paired seeds (default 0-4)")
    parser.add_argument("--results", default="benchmarks/results/search_efficiency.jsonl")
    parser.add_argument("--out", default="benchmarks/results/search_efficiency.html")
    parser.add_argument("--report", action="store_true", help="only the tables and page from --results")
    args = parser.parse_args()
    setup_logging(quiet=True)
    logging.getLogger("search.benchmarks").setLevel(logging.INFO)
    base = QUICK if args.quick else FULL
    setting = {
        "budget": args.budget or base["budget"],
        "limit": args.limit if args.limit is not None else base["limit"],
        "max_epochs": args.max_epochs or base["max_epochs"],
    }
    targets = tuple(args.targets or base["targets"])
    results_path = Path(args.results)
    if not args.report:
        _log.info("machine: %s, %s, Python %s", platform.machine(), device_description(), platform.python_version())
        _log.info("setting %s, families %s, seeds %s", setting_key(setting), args.families, args.seeds)
        done = {(r["family"], r["method"], r["seed"]) for r in load_results(results_path)
                if r["setting"] == setting_key(setting)}  # fmt: skip
        results_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            for k, seed in enumerate(args.seeds):
                for family in args.families:
                    # alternate which method goes first, so a drift in the machine's load favours none
                    for method in args.methods if k % 2 == 0 else args.methods[::-1]:
                        if (family, method, seed) in done:
                            continue
                        _log.info("== %s %s seed %d", family, method, seed)
                        started = time.time()
                        record = run_method(method, family, seed, setting, tmp)
                        if record is None:
                            continue
                        record.update(method=method, family=family, seed=seed, setting=setting_key(setting),
                                      budget=setting["budget"], wall=time.time() - started,
                                      device=device_description(), when=time.strftime("%Y-%m-%d %H:%M"))  # fmt: skip
                        with results_path.open("a") as f:
                            f.write(json.dumps(record) + "\n")
                        best = record["curve"][-1][1] if record["curve"] else None
                        _log.info("== %s %s seed %d: best %s, %d complete, %d pruned, %d unbuildable, proposed time %.2f",
                                  family, method, seed, best, record["complete"], record["pruned"],
                                  record["unbuildable"], record["proposed_time_share"])  # fmt: skip
    results = [r for r in load_results(results_path) if r["setting"] == setting_key(setting)]
    report(results, args.families, args.methods, targets, setting["budget"])
    _write_figure(results, args.families, args.methods, Path(args.out))
    _log.info("wrote %s", args.out)


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "-" if x is None else format(x, spec)


def _median_range(values: list[float | None]) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "-"
    return f"{statistics.median(got):.4f} ({min(got):.4f}-{max(got):.4f})"


def _median_time(values: list[float | None]) -> float | None:
    """Median time to a target, counting a seed that never reached it as infinitely slow
    (``None`` when fewer than half reached it)."""
    ordered = sorted(v if v is not None else float("inf") for v in values)
    if not ordered:
        return None
    m = statistics.median(ordered)
    return None if m == float("inf") else m


def report(results: list[dict[str, Any]], families: list[str], methods: list[str], targets: tuple[float, ...], budget: float) -> None:
    """The tables: per method the medians and ranges over seeds; then the paired verdicts."""
    by = {(r["family"], r["method"], r["seed"]): r for r in results}
    _log.info("| family | method | seeds | best at 25%% | at 50%% | at 100%% (median, range) | %s | complete/pruned/unbuildable | proposed share of training | proposed beat presets |",
              " | ".join(f"time to {g:.2f}" for g in targets))  # fmt: skip
    _log.info("|---|---|---:|---:|---:|---:|%s---:|---:|---:|", "---:|" * len(targets))
    for family in families:
        for method in methods:
            runs = [r for (f, m, _), r in sorted(by.items()) if f == family and m == method]
            if not runs:
                continue
            at = [[best_at(r["curve"], fr * budget) for r in runs] for fr in FRACTIONS]
            times = [_fmt(_median_time([time_to(r["curve"], g) for r in runs]), ".0f") for g in targets]
            counts = "/".join(f"{statistics.median(r[k] for r in runs):g}" for k in ("complete", "pruned", "unbuildable"))
            beat = [r["proposed_beat_presets"] for r in runs if r.get("proposed_beat_presets") is not None]
            _log.info(
                "| %s | %s | %d | %s | %s | %s | %s | %s | %.2f | %s |", family, method, len(runs),
                *(_median_range(a) for a in at), " | ".join(f"{t} s" if t != "-" else t for t in times), counts,
                statistics.median(r["proposed_time_share"] for r in runs),
                f"{sum(beat)}/{len(beat)}" if beat else "-",
            )  # fmt: skip
    middle = targets[len(targets) // 2]
    for family in families:
        for a in methods:
            for b in methods:
                if a >= b:
                    continue
                seeds = sorted({s for (f, m, s) in by if f == family and m == a} & {s for (f, m, s) in by if f == family and m == b})
                if not seeds:
                    continue
                ahead = _ahead(by, family, a, b, seeds, lambda r: (r["curve"][-1][1] if r["curve"] else None))
                faster = _ahead(
                    by, family, a, b, seeds, _time_score(middle), accuracy=False
                )
                _log.info(
                    "%s: %s vs %s over %d paired seeds: best at budget %d-%d, %d ties, %d ended early (%s);"
                    " time to %.2f %d-%d (%s)",
                    family, a, b, len(seeds), ahead[a], ahead[b], ahead["ties"], ahead["ended early"],
                    _verdict(ahead, a, b, len(seeds)), middle, faster[a], faster[b],
                    _verdict(faster, a, b, len(seeds)),
                )  # fmt: skip


def _neg(x: float | None) -> float | None:
    return None if x is None else -x


def _val_images(run: dict[str, Any]) -> int:
    """The validation images a run's accuracies are shares of: recorded, else from its setting
    (``90s-10000img-6ep``: a 10 % split of 10,000 images)."""
    if run.get("val_images"):
        return int(run["val_images"])
    match = re.search(r"(\d+)img", str(run.get("setting", "")))
    return max(1, round(0.1 * int(match.group(1)))) if match else 10_000


def _ahead(by: dict, family: str, a: str, b: str, seeds: list[int], score: Any, *, accuracy: bool = True) -> dict[str, Any]:
    """Per method, in how many of ``seeds`` its score was strictly ahead; ``ties`` and the seeds
    where a run ``ended early`` (no score: no complete trial) are counted apart, never as a loss.
    Accuracies are compared as counts of validation images (an accuracy stored as float32 and the
    same one as a decimal are a tie, not a win)."""
    wins: dict[str, Any] = {a: 0, b: 0, "ties": 0, "ended early": 0}
    for s in seeds:
        ra, rb = by[family, a, s], by[family, b, s]
        x, y = score(ra), score(rb)
        if x is None or y is None:
            wins["ended early"] += 1
            continue
        if accuracy:
            x, y = round(x * _val_images(ra)), round(y * _val_images(rb))
        if x == y:
            wins["ties"] += 1
        else:
            wins[a if x > y else b] += 1
    return wins


def _time_score(target: float) -> Any:
    """Minus the time a run took to reach ``target`` (never: minus infinity; no curve: None)."""

    def score(run: dict[str, Any]) -> float | None:
        if not run["curve"]:
            return None
        t = time_to(run["curve"], target)
        return float("-inf") if t is None else -t

    return score


def _sign_test(wins: dict[str, Any], a: str, b: str) -> float:
    """The two-sided sign test's p-value of the paired wins (ties and early ends left out)."""
    from scipy.stats import binomtest

    n = wins[a] + wins[b]
    return 1.0 if n == 0 else float(binomtest(wins[a], n, 0.5).pvalue)


#: a verdict needs the paired sign test below this p-value: with 5 seeds even 5-0 is p=0.0625,
#: which could be a coincidence, so 5 seeds give no verdict
SIGNIFICANCE = 0.05


def _verdict(wins: dict[str, Any], a: str, b: str, n: int) -> str:
    """"A beats B" only when the paired sign test says it is no coincidence (p below
    :data:`SIGNIFICANCE`); otherwise who was ahead, and that it is not significant."""
    p = _sign_test(wins, a, b)
    if p < SIGNIFICANCE and wins[a] != wins[b]:
        return f"{a if wins[a] > wins[b] else b} beats {b if wins[a] > wins[b] else a}, sign test p={p:.3f}"
    return f"no verdict, sign test p={p:.3f}"


def _write_figure(results: list[dict[str, Any]], families: list[str], methods: list[str], path: Path) -> None:
    """Per family, per method: the median best accuracy over seeds against time, with a band from
    the lowest to the highest seed."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(families), subplot_titles=families, shared_yaxes=True)
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"]
    for col, family in enumerate(families, start=1):
        for i, method in enumerate(methods):
            runs = [r for r in results if r["family"] == family and r["method"] == method]
            if not runs:
                continue
            grid = sorted({s for r in runs for s, _ in r["curve"]} | {r["budget"] for r in runs})
            rows = [[best_at(r["curve"], t) for r in runs] for t in grid]
            keep = [(t, [v for v in row if v is not None]) for t, row in zip(grid, rows)]
            keep = [(t, v) for t, v in keep if len(v) * 2 > len(runs)]  # shown once most seeds have a model
            if not keep:
                continue
            xs = [t for t, _ in keep]
            color = palette[i % len(palette)]
            fig.add_trace(go.Scatter(x=xs, y=[max(v) for _, v in keep], line_shape="hv", line={"width": 0},
                                     showlegend=False, legendgroup=method, hoverinfo="skip"), row=1, col=col)  # fmt: skip
            fig.add_trace(go.Scatter(x=xs, y=[min(v) for _, v in keep], line_shape="hv", line={"width": 0},
                                     fill="tonexty", fillcolor=_rgba(color, 0.15), showlegend=False,
                                     legendgroup=method, hoverinfo="skip"), row=1, col=col)  # fmt: skip
            fig.add_trace(go.Scatter(x=xs, y=[statistics.median(v) for _, v in keep], line_shape="hv",
                                     line={"color": color}, name=f"{method} ({len(runs)} seeds)",
                                     legendgroup=method, showlegend=col == 1), row=1, col=col)  # fmt: skip
    fig.update_layout(title="Best validation accuracy against wall time: median over paired seeds, band = lowest to highest")
    fig.update_xaxes(title_text="seconds")
    fig.update_yaxes(title_text="best val accuracy", col=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(fig.to_html(include_plotlyjs=True))


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


if __name__ == "__main__":
    main()
