"""Judge search methods on recorded curves: paired seeds, every cell of machine speed x budget.

    python -m benchmarks.simulate --curves benchmarks/curves/cnn.jsonl.gz --seeds 50

For each cell (``--speeds``: how fast the machine is against the recording; ``--budgets``: the
time budget, as minutes of a search on all of Fashion-MNIST) and each seed, every method searches
once; seed k is the same for every method (paired). The methods:

* ``make-run``: ``search.run`` with ``make run``'s own options, read from the Makefile (its
  ``--timeout`` replaced by the cell's budget; ``--ensemble`` is not simulated);
  ``make-run-no-presets``: the same without ``--enqueue-presets``.
* Optuna users' scripts (:func:`~benchmarks.simulate.simulate_optuna_user`): ``tpe-hyperband``
  (TPE with Optuna's Hyperband pruner), ``hyperband`` and ``asha`` (random draws with Optuna's
  Hyperband or successive-halving pruner) and ``random`` (no pruner), each from nothing and with
  the documents' presets enqueued first (``+presets``).
* keras-tuner users' searches (:func:`~benchmarks.simulate.simulate_keras_tuner`): ``kt-hyperband``
  and ``kt-bayesian``, from nothing and with the presets as the oracle's initial points
  (``+presets``, as ``--engine keras-tuner --enqueue-presets`` gives them).

The ablation (``--ablation``): ``make-run`` with one rule of its time policy off or relaxed
(:data:`POLICY_ABLATIONS`, fields of :class:`~search.policy.TimePolicy`) or one option changed
(:data:`OPTION_ABLATIONS`), each paired with ``make-run`` itself: a loss of ``make-run`` to a
variant says the rule (or option) costs accuracy there.

Compared at equal knowledge: ``make-run`` against each peer ``+presets``, ``make-run-no-presets``
against each peer from nothing. The score is the final model's test accuracy (recorded, after the
epochs it trained), and its regret to the best recorded configuration. Accuracies are compared as
counts of test images (a tie is a tie); a search that completed no trial is counted apart. Each
pair gets its wins, ties and losses, the sign test's and Wilcoxon's p-values. The page
(``--out``) draws each method's median best validation accuracy against time, with a band from
the 10th to the 90th percentile of the seeds.

Validation (``--validation-images N``): by default every search sees the recorded validation
accuracy, of the recording's small split (600 images at ``--limit 6000``); with N, every epoch's
validation accuracy is drawn from a split of N images around the recorded test accuracy, afresh
per seed and the same for every method of a seed (:class:`~benchmarks.simulate.ValidationDraw`):
``--validation-images 6000`` is the split ``make run`` validates on. Its results go to their own
file (``simulate-FAMILY-valN.jsonl``).

Budgets: the curves are recorded on a subset of the images, where an epoch takes that share of
an epoch on all of them; a budget of M minutes is ``60 M x recorded training images / 54,000``
virtual seconds at speed 1, so that it holds as many epochs as M minutes on the whole of
Fashion-MNIST's training split on the recording's machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import statistics
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

__all__ = ["ABLATIONS", "METHODS", "OPTION_ABLATIONS", "POLICY_ABLATIONS", "SAMPLER_ABLATIONS", "main", "make_run_options"]

_log = logging.getLogger("benchmarks.simulate")

ROOT = Path(__file__).resolve().parents[2]


def make_run_options(makefile: Path = ROOT / "Makefile") -> list[str]:
    """``make run``'s options (its ``ARGS ?=`` line), without ``--timeout`` and its value."""
    match = re.search(r"^run: ARGS \?= (.+)$", makefile.read_text(), flags=re.MULTILINE)
    if match is None:
        raise ValueError(f"no 'run: ARGS ?=' line in {makefile}")
    words = match.group(1).split()
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        if word == "--timeout":
            skip = True
            continue
        out.append(word)
    return out


#: ``make run`` with one field of its time policy changed: the rule off, or relaxed to what it
#: is without a refit (the rule table of :class:`~search.policy.TimePolicy` names each rule)
POLICY_ABLATIONS: dict[str, dict[str, Any]] = {
    "make-run/cap-before-refit=0.5": {"share_before_refit": 0.5},  # the share without --refit
    "make-run/slower-than-fastest=off": {"slower_than_fastest": math.inf},
    "make-run/going-on-bound=off": {"share_going_on": math.inf},
    "make-run/ahead-at-same-epoch=off": {"equal_fidelity": False},
    "make-run/leader-stops=off": {"leader_stops_before_refit": False},
    "make-run/refit-safety=1": {"refit_safety": 1.0},
    "make-run/max-refit-share=1": {"max_refit_share": 1.0},
    "make-run/refit-shrink=off": {"min_epoch_share": 1.0},  # a refit short of time is not shrunk
    "make-run/cap=1/4": {"share_of_time_left": 0.25},  # shorter trials, more of them
}

#: ``make run`` with one of its options changed
OPTION_ABLATIONS: dict[str, Callable[[list[str]], list[str]]] = {
    "make-run/no-refit": lambda o: [w for w in o if w != "--refit"],
    "make-run/sampler=tpe": lambda o: [*o, "--sampler", "tpe"],
    "make-run/pruner=hyperband": lambda o: [*o, "--pruner", "hyperband"],
    "make-run/pruner=none": lambda o: [*o, "--pruner", "none"],
}

#: candidate defaults: ``make run`` with several changes at once (policy fields, option change),
#: the standard algorithms with fewer of the platform's own rules
CANDIDATES: dict[str, tuple[dict[str, Any], Callable[[list[str]], list[str]]]] = {
    # no refit, and no cap: a trial trains until its pruner or the search's end stops it, as the
    # peers' trials do (the final model is the best trial's own)
    "make-run/no-refit,no-cap": ({"share_of_time_left": 1.0}, OPTION_ABLATIONS["make-run/no-refit"]),
    "make-run/no-refit,pruner=hyperband": (
        {}, lambda o: OPTION_ABLATIONS["make-run/pruner=hyperband"](OPTION_ABLATIONS["make-run/no-refit"](o))
    ),
    "make-run/no-refit,no-cap,pruner=hyperband": (
        {"share_of_time_left": 1.0},
        lambda o: OPTION_ABLATIONS["make-run/pruner=hyperband"](OPTION_ABLATIONS["make-run/no-refit"](o)),
    ),
}

#: ``make run`` with its prior sampler's exploration changed: keyword arguments of
#: :class:`~search.samplers.PriorSampler` (``"global": "uniform"``: uniform global draws)
SAMPLER_ABLATIONS: dict[str, dict[str, Any]] = {
    "make-run/global-share=1/2": {"global_share": 0.5},  # PriorBand's share at its lowest rung
    "make-run/global=uniform": {"global": "uniform"},  # PriorBand's random draws, not TPE's
}

ABLATIONS = (*POLICY_ABLATIONS, *OPTION_ABLATIONS, *CANDIDATES, *SAMPLER_ABLATIONS)


def _methods() -> dict[str, Callable[..., Any]]:
    from benchmarks.simulate import simulate_keras_tuner, simulate_optuna_user, simulate_platform
    from search.policy import DEFAULT_TIME_POLICY

    options = make_run_options()
    no_presets = [o for o in options if o != "--enqueue-presets"]
    methods: dict[str, Callable[..., Any]] = {
        "make-run": lambda s, d, f, **kw: simulate_platform(s, d, f, options, **kw),
        "make-run-no-presets": lambda s, d, f, **kw: simulate_platform(s, d, f, no_presets, **kw),
    }
    for name, fields in POLICY_ABLATIONS.items():
        policy = replace(DEFAULT_TIME_POLICY, **fields)
        methods[name] = lambda s, d, f, policy=policy, **kw: simulate_platform(s, d, f, options, policy=policy, **kw)
    for name, change in OPTION_ABLATIONS.items():
        changed = change(options)
        methods[name] = lambda s, d, f, changed=changed, **kw: simulate_platform(s, d, f, changed, **kw)
    for name, (fields, change) in CANDIDATES.items():
        policy, changed = replace(DEFAULT_TIME_POLICY, **fields), change(options)
        methods[name] = lambda s, d, f, policy=policy, changed=changed, **kw: simulate_platform(
            s, d, f, changed, policy=policy, **kw
        )
    for name, prior_options in SAMPLER_ABLATIONS.items():
        methods[name] = lambda s, d, f, prior_options=prior_options, **kw: simulate_platform(
            s, d, f, options, prior_options=prior_options, **kw
        )
    for name, sampler, pruner in (
        ("tpe-hyperband", "tpe", "hyperband"),
        ("hyperband", "random", "hyperband"),
        ("asha", "random", "successive-halving"),
        ("random", "random", "none"),
    ):
        for presets in (False, True):
            methods[name + ("+presets" if presets else "")] = (
                lambda s, d, f, sampler=sampler, pruner=pruner, presets=presets, **kw: simulate_optuna_user(
                    s, d, f, sampler=sampler, pruner=pruner, presets=presets, **kw
                )
            )
    for tuner in ("hyperband", "bayesian"):
        for presets in (False, True):
            methods[f"kt-{tuner}" + ("+presets" if presets else "")] = (
                lambda s, d, f, tuner=tuner, presets=presets, **kw: simulate_keras_tuner(
                    s, d, f, tuner=tuner, presets=presets, **kw
                )
            )
    return methods


METHODS = (
    "make-run", "make-run-no-presets",
    "tpe-hyperband", "tpe-hyperband+presets", "hyperband", "hyperband+presets",
    "asha", "asha+presets", "random", "random+presets",
    "kt-hyperband", "kt-hyperband+presets", "kt-bayesian", "kt-bayesian+presets",
)  # fmt: skip

#: the pairs compared: ours against each peer given the same knowledge
PAIRS = [
    ("make-run", p + "+presets") for p in ("tpe-hyperband", "hyperband", "asha", "random", "kt-hyperband", "kt-bayesian")
] + [
    ("make-run-no-presets", p) for p in ("tpe-hyperband", "hyperband", "asha", "random", "kt-hyperband", "kt-bayesian")
]

#: the ablation's pairs: ``make run`` against each of its variants
ABLATION_PAIRS = [("make-run", a) for a in ABLATIONS]


def _compare(a: list[float | None], b: list[float | None], test_images: int) -> dict[str, Any]:
    """Wins, ties and losses of ``a`` against ``b`` over paired seeds (accuracies as counts of
    test images), the seeds where either completed nothing, and the p-values."""
    from scipy.stats import binomtest, wilcoxon

    wins = ties = losses = early = 0
    diffs = []
    for x, y in zip(a, b, strict=True):
        if x is None or y is None:
            early += 1
            continue
        cx, cy = round(x * test_images), round(y * test_images)
        diffs.append(cx - cy)
        if cx > cy:
            wins += 1
        elif cx < cy:
            losses += 1
        else:
            ties += 1
    n = wins + losses
    sign = float(binomtest(wins, n, 0.5).pvalue) if n else 1.0
    nonzero = [d for d in diffs if d != 0]
    wil = float(wilcoxon(nonzero).pvalue) if len(nonzero) >= 6 else 1.0
    return {"wins": wins, "ties": ties, "losses": losses, "ended_early": early, "sign_p": sign, "wilcoxon_p": wil,
            "median_diff": statistics.median(diffs) if diffs else 0}  # fmt: skip


def _validation_record(a: list[float | None], b: list[float | None]) -> str:
    """Wins-ties-losses of ``a`` against ``b`` on the final trial's validation accuracy (a count of
    validation images over their number, so equal to 6 decimals is a tie): whether a search chose
    better by the measure it chose on, apart from how that carried to the test images."""
    pairs = [(round(x, 6), round(y, 6)) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return f"{sum(x > y for x, y in pairs)}-{sum(x == y for x, y in pairs)}-{sum(x < y for x, y in pairs)}"


def _median_range(values: Sequence[float | None]) -> str:
    done = [v for v in values if v is not None]
    if not done:
        return "-"
    return f"{statistics.median(done):.4f} ({min(done):.4f}-{max(done):.4f})"


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (cell, seed, method) not yet in ``--results``, in ``--workers`` processes; returns all
    the results."""
    import multiprocessing

    results_path = Path(args.results)
    done = set()
    if results_path.is_file():
        for line in results_path.read_text().splitlines():
            r = json.loads(line)
            if r.get("validation_images") == args.validation_images:
                done.add((r["speed"], r["budget_minutes"], r["seed"], r["method"]))
    results_path.parent.mkdir(parents=True, exist_ok=True)
    jobs = [(Path(args.curves), speed, minutes, seed, method, args.validation_images)
            for speed in args.speeds for minutes in args.budgets for seed in range(args.seeds)
            for method in args.methods if (speed, minutes, seed, method) not in done]  # fmt: skip
    _log.info("%d simulated searches to run, %d already in %s", len(jobs), len(done), results_path)
    from benchmarks.simulate._grid import search_job

    with results_path.open("a") as out:
        if args.workers == 1:
            lines = map(search_job, jobs)
        else:
            pool = multiprocessing.get_context("spawn").Pool(args.workers)
            lines = pool.imap_unordered(search_job, jobs, chunksize=1)
        for n, line in enumerate(lines, start=1):
            out.write(line + "\n")
            out.flush()
            if n % 50 == 0:
                _log.info("%d of %d searches done", n, len(jobs))
        if args.workers > 1:
            pool.close()
            pool.join()
    return [json.loads(line) for line in results_path.read_text().splitlines()]


def report(
    results: list[dict[str, Any]], methods: Sequence[str], pairs: Sequence[tuple[str, str]] = tuple(PAIRS)
) -> list[str]:
    """The tables, as Markdown lines: per cell the methods' test accuracy, then the ``pairs``."""
    lines = []
    cells = sorted({(r["speed"], r["budget_minutes"]) for r in results})
    for speed, minutes in cells:
        rows = {m: sorted((r for r in results if r["method"] == m and r["speed"] == speed and r["budget_minutes"] == minutes),
                          key=lambda r: r["seed"]) for m in methods}  # fmt: skip
        seeds = min((len(v) for v in rows.values() if v), default=0)
        lines += [f"### speed {speed}x, {minutes} minutes ({seeds} seeds)", "",
                  ("| method | test accuracy, median (range) | regret, median | final = a preset | no trial completed | "
                   "configurations trained, median |"),
                  "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for m in methods:
            rs = rows[m]
            if not rs:
                continue
            accs = [r["test_accuracy"] for r in rs]
            regrets = [r["best_recorded"] - r["test_accuracy"] for r in rs if r["test_accuracy"] is not None]
            presets = sum(bool(r["final_is_preset"]) for r in rs)
            configs = [r["configs"] for r in rs if r.get("configs")]  # rows of before it was counted: none
            trained = f"{statistics.median(configs):g}" if configs else "-"
            lines.append(
                f"| {m} | {_median_range(accs)} | {statistics.median(regrets):.4f} | {presets}/{len(rs)} | "
                f"{sum(a is None for a in accs)} | {trained} |" if regrets else f"| {m} | - | - | - | {len(rs)} | {trained} |"
            )
        lines += ["", ("| ours | against | wins-ties-losses | median difference (test images) | ended early | "
                       "sign test p | Wilcoxon p | by validation accuracy |"),
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for a, b in pairs:
            if not rows.get(a) or not rows.get(b):
                continue
            ra = {r["seed"]: r for r in rows[a]}
            rb = {r["seed"]: r for r in rows[b]}
            common = sorted(set(ra) & set(rb))
            c = _compare([ra[s]["test_accuracy"] for s in common], [rb[s]["test_accuracy"] for s in common],
                         ra[common[0]]["test_images"])  # fmt: skip
            val = _validation_record([ra[s]["val_accuracy"] for s in common], [rb[s]["val_accuracy"] for s in common])
            lines.append(f"| {a} | {b} | {c['wins']}-{c['ties']}-{c['losses']} | {c['median_diff']:+g} | "
                         f"{c['ended_early']} | {c['sign_p']:.2g} | {c['wilcoxon_p']:.2g} | {val} |")  # fmt: skip
        lines.append("")
    return lines


def figure(results: list[dict[str, Any]], methods: Sequence[str], path: Path) -> None:
    """Per cell, each method's median best validation accuracy against virtual time, with a band
    from the 10th to the 90th percentile of the seeds."""
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cells = sorted({(r["speed"], r["budget_minutes"]) for r in results})
    speeds, budgets = sorted({c[0] for c in cells}), sorted({c[1] for c in cells})
    fig = make_subplots(rows=len(speeds), cols=len(budgets), shared_yaxes=True,
                        subplot_titles=[f"{s}x, {b} min" for s in speeds for b in budgets])  # fmt: skip
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#17becf", "#bcbd22"]
    for i, speed in enumerate(speeds, start=1):
        for j, minutes in enumerate(budgets, start=1):
            cell = [r for r in results if r["speed"] == speed and r["budget_minutes"] == minutes]
            end = max((r["seconds"] for r in cell), default=1.0)
            grid = np.linspace(0, end, 60)
            for k, m in enumerate(methods):
                curves = [r["curve"] for r in cell if r["method"] == m]
                if not curves:
                    continue
                values = np.array([[max((v for t, v in c if t <= g), default=np.nan) for g in grid] for c in curves])
                with warnings.catch_warnings():  # before any seed's first complete trial: no value yet
                    warnings.simplefilter("ignore", RuntimeWarning)
                    lo, mid, hi = (np.nanpercentile(values, q, axis=0) for q in (10, 50, 90))
                color = palette[k % len(palette)]
                show = i == 1 and j == 1
                fig.add_trace(go.Scatter(x=grid, y=mid, name=m, line={"color": color}, legendgroup=m, showlegend=show), i, j)
                fig.add_trace(go.Scatter(x=np.concatenate([grid, grid[::-1]]), y=np.concatenate([hi, lo[::-1]]),
                                         fill="toself", line={"width": 0}, fillcolor=color, opacity=0.15,
                                         legendgroup=m, showlegend=False, hoverinfo="skip"), i, j)  # fmt: skip
    fig.update_layout(title="Best validation accuracy against virtual time: median over paired seeds, band 10-90 %",
                      height=320 * len(speeds))  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(path), include_plotlyjs="cdn")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.simulate", description=__doc__.split("\n\n")[0])
    p.add_argument("--curves", type=Path, default=ROOT / "benchmarks" / "curves" / "cnn.jsonl.gz")
    p.add_argument("--seeds", type=int, default=50, help="paired seeds per cell (default 50)")
    p.add_argument("--speeds", type=float, nargs="+", default=[0.25, 1.0, 4.0])
    p.add_argument("--budgets", type=float, nargs="+", default=[5.0, 20.0, 120.0], help="minutes on the whole data set")
    p.add_argument("--methods", nargs="+", choices=(*METHODS, *ABLATIONS), help="default: every peer, or with --ablation make-run and its variants")
    p.add_argument("--ablation", action="store_true", help="make-run against itself with one time rule off or one option changed")
    p.add_argument("--results", type=Path, help="jsonl of every search (default benchmarks/results/simulate-FAMILY.jsonl)")
    p.add_argument("--out", type=Path, help="the page (default: --results with .html)")
    p.add_argument("--report", action="store_true", help="only the tables and page from --results")
    p.add_argument("--workers", type=int, default=1, help="processes running searches (default 1)")
    p.add_argument("--validation-images", type=int, metavar="N",
                   help="every epoch's validation accuracy drawn from a split of N images around the recorded "
                        "test accuracy, afresh per seed (ValidationDraw; default: the recorded validation split)")  # fmt: skip
    args = p.parse_args(argv)
    args.methods = args.methods or (["make-run", *ABLATIONS] if args.ablation else list(METHODS))
    if (args.seeds < 1 or args.workers < 1 or any(s <= 0 for s in args.speeds) or any(b <= 0 for b in args.budgets)
            or (args.validation_images is not None and args.validation_images < 1)):  # fmt: skip
        print("error: --seeds, --workers, --speeds, --budgets and --validation-images must be positive", file=sys.stderr)
        return 2
    if not args.report and not Path(args.curves).exists():
        print(f"error: no curve file {args.curves}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("search", "optuna"):
        logging.getLogger(name).setLevel(logging.ERROR)
    family = Path(args.curves).name.split(".")[0]
    drawn = f"-val{args.validation_images}" if args.validation_images else ""
    args.results = args.results or ROOT / "benchmarks" / "results" / f"simulate-{family}{drawn}.jsonl"
    page = Path(args.results).with_suffix("")
    args.out = args.out or page.with_name(page.name + ("-ablation" if args.ablation else "") + ".html")
    if args.report and not Path(args.results).exists():
        print(f"error: no results file {args.results}", file=sys.stderr)
        return 2
    if args.report:
        results = [json.loads(line) for line in Path(args.results).read_text().splitlines()]
    else:
        results = run(args)
    results = [r for r in results if r["method"] in args.methods and r["speed"] in args.speeds
               and r["budget_minutes"] in args.budgets and r["seed"] < args.seeds
               and r.get("validation_images") == args.validation_images]  # fmt: skip
    if not results:
        drawn_note = f" with --validation-images {args.validation_images}" if args.validation_images else ""
        print(f"error: no searches in {args.results} for these methods, speeds and budgets{drawn_note}", file=sys.stderr)
        return 2
    for line in report(results, args.methods, ABLATION_PAIRS if args.ablation else PAIRS):
        print(line)
    figure(results, args.methods, Path(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
