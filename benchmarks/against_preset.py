"""``make run`` against one preset trained alone for the same time: real, paired, side by side.

    python -m benchmarks.against_preset --seeds 5                  # 5 pairs of 20 minutes (~2 hours)
    python -m benchmarks.against_preset --seeds 1 --minutes 2 --limit 6000   # a quick look
    python -m benchmarks.against_preset --report                   # the verdict of the rows so far

Each pair runs two processes at once, each pinned to one core (``taskset``), the methods swapping
cores from one seed to the next:

* ``make-run``: ``python -m search.run --study cnn`` with ``make run``'s own options, read from
  the Makefile (its ``--timeout`` set to ``--minutes``), and ``--seed``; its own study database,
  artifacts and MLflow store in a temporary folder.
* ``preset-alone`` (default ``doc003_cnn_dropout07``): what a user of the document would run: the
  preset's model on the same split (the same ``--seed``), as many epochs as fit in the same
  minutes (an epoch starts only if the mean epoch so far still fits), the weights of its best
  validation epoch, then the test set once. None of the platform's search rules touch it.

Every pair is a line of ``--results`` (jsonl; a seed already there is skipped, so the command
resumes). The report counts wins, ties and losses in test images (of 10,000), the sign test's
p-value, and how often ``make run``'s best trial was a configuration its sampler found rather than
a preset.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_log = logging.getLogger("benchmarks.against_preset")

DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "against_preset.jsonl"
DEFAULT_PRESET = "doc003_cnn_dropout07"
#: epochs cap of the preset alone: far more than fit in the budget (the clock stops it)
ALONE_EPOCHS = 1000


def _pinned(core: int, args: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), sys.executable, *args]


def _make_run(seed: int, minutes: float, limit: int | None, folder: Path) -> list[str]:
    from benchmarks.simulate.__main__ import make_run_options

    return [
        "-m", "search.run", "--study", "cnn", *make_run_options(), "--timeout", f"{minutes * 60:g}",
        "--seed", str(seed), "--storage", f"sqlite:///{folder / 'optuna.db'}",
        "--artifacts", str(folder / "artifacts"), "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}",
        *(["--limit", str(limit)] if limit else []),
    ]  # fmt: skip


def _alone(seed: int, minutes: float, limit: int | None, preset: str, out: Path) -> list[str]:
    return [
        "-m", "benchmarks.against_preset", "--alone", preset, "--seed", str(seed), "--minutes", f"{minutes:g}",
        "--out", str(out), *(["--limit", str(limit)] if limit else []),
    ]  # fmt: skip


def _make_run_row(folder: Path) -> dict[str, Any]:
    """What ``make run``'s study recorded: the final model's test accuracy, its best trial alone."""
    import optuna

    from search.records import TrialRecord

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{folder / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    evaluation = study.user_attrs.get("test_evaluation") or {}
    trials = study.get_trials(deepcopy=False)
    best = next((t for t in trials if t.number == evaluation.get("trial")), None)
    ensemble = evaluation.get("ensemble") or {}
    return {
        "test_accuracy": evaluation.get("accuracy"),
        "best_alone_accuracy": ensemble.get("best_alone_accuracy", evaluation.get("accuracy")),
        "val_accuracy": best.value if best is not None else None,
        "best_trial": evaluation.get("trial"),
        "best_is_preset": TrialRecord.of(best).preset if best is not None else None,
        "trials": len(trials),
        "complete": sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials),
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in trials),
    }


def run_pair(seed: int, minutes: float, limit: int | None, preset: str) -> list[dict[str, Any]]:
    """Both methods at once, one core each (``make run`` on core ``seed % 2``); their rows."""
    cores = {"make-run": seed % 2, "preset-alone": 1 - seed % 2}
    with tempfile.TemporaryDirectory(prefix="against-preset-") as tmp:
        folder = Path(tmp)
        commands = {
            "make-run": _pinned(cores["make-run"], _make_run(seed, minutes, limit, folder)),
            "preset-alone": _pinned(cores["preset-alone"], _alone(seed, minutes, limit, preset, folder / "alone.json")),
        }
        start = time.perf_counter()
        procs = {}
        for method, command in commands.items():
            log = open(folder / f"{method}.log", "w")  # noqa: SIM115 - closed with the process below
            procs[method] = (subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log)
        seconds = {}
        for method, (proc, log) in procs.items():
            proc.wait()
            log.close()
            seconds[method] = time.perf_counter() - start
            if proc.returncode != 0:
                tail = (folder / f"{method}.log").read_text().splitlines()[-20:]
                raise RuntimeError(f"{method} (seed {seed}) exited with {proc.returncode}:\n" + "\n".join(tail))
        rows = [
            {"method": "make-run", **_make_run_row(folder)},
            {"method": "preset-alone", "preset": preset, **json.loads((folder / "alone.json").read_text())},
        ]
    today = datetime.date.today().isoformat()
    common = {"seed": seed, "minutes": minutes, "limit": limit, "date": today, "command": commands["make-run"][3:]}
    return [{**common, **row, "core": cores[row["method"]], "wall": round(seconds[row["method"]], 1)} for row in rows]


def train_alone(preset: str, seed: int, minutes: float, limit: int | None) -> dict[str, Any]:
    """Train ``preset`` of the cnn family on the seed's split for as many epochs as fit in
    ``minutes``, keep its best validation epoch, and score it once on the test set."""
    from search.core import start_tensorflow

    start_tensorflow()
    import dataclasses

    import keras
    import numpy as np

    from search.data import load_dataset
    from search.training import fit_candidate
    from spaces import get_space

    class _TimeLimit(keras.callbacks.Callback):
        """Stop before an epoch that, at the mean pace so far, would end past the budget."""

        def __init__(self, seconds: float) -> None:
            super().__init__()
            self.seconds, self.start, self.epochs = seconds, time.perf_counter(), 0

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epochs += 1
            spent = time.perf_counter() - self.start
            if spent + spent / self.epochs > self.seconds:
                self.model.stop_training = True

    keras.utils.set_random_seed(seed)
    data = load_dataset("fashion_mnist", limit=limit, seed=seed)
    space = get_space("cnn")
    candidate = space.from_params(space.presets[preset].params)
    candidate = dataclasses.replace(candidate, train=dataclasses.replace(candidate.train, epochs=ALONE_EPOCHS))
    limit_callback = _TimeLimit(minutes * 60)
    result = fit_candidate(space, candidate, data, max_epochs=ALONE_EPOCHS, callbacks=[limit_callback])
    probabilities = result.model.predict(data.x_test, batch_size=1024, verbose=0)
    return {
        "test_accuracy": float(np.mean(np.argmax(probabilities, axis=1) == data.y_test)),
        "test_images": len(data.y_test),
        "val_accuracy": float(result.val_accuracy),
        "epochs": result.epochs_run,
        "best_epoch": (result.best_epoch or 0) + 1,
        "train_seconds": round(result.train_seconds, 1),
    }


def report(rows: list[dict[str, Any]]) -> str:
    """The verdict over the seeds that have both methods."""
    from benchmarks.simulate.__main__ import _compare

    by_seed: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_seed.setdefault(row["seed"], {})[row["method"]] = row
    pairs = [(s, m) for s, m in sorted(by_seed.items()) if {"make-run", "preset-alone"} <= m.keys()]
    lines = [
        (
            "| seed | make run: core, test | its best trial alone | best trial | trials (complete/pruned) | "
            "preset alone: test | epochs (best) |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for seed, m in pairs:
        ours, alone = m["make-run"], m["preset-alone"]
        lines.append(
            f"| {seed} | core {ours['core']}: {ours['test_accuracy']:.4f} | {ours['best_alone_accuracy']:.4f} | "
            f"{ours['best_trial']} ({ours['best_is_preset'] or 'found by the sampler'}) | "
            f"{ours['trials']} ({ours['complete']}/{ours['pruned']}) | {alone['test_accuracy']:.4f} | "
            f"{alone['epochs']} ({alone['best_epoch']}) |"
        )
    c = _compare(
        [m["make-run"]["test_accuracy"] for _, m in pairs],
        [m["preset-alone"]["test_accuracy"] for _, m in pairs],
        pairs[0][1]["preset-alone"].get("test_images", 10000) if pairs else 10000,
    )
    found = sum(not m["make-run"]["best_is_preset"] for _, m in pairs)
    lines += [
        "",
        (
            f"make run against {pairs[0][1]['preset-alone']['preset'] if pairs else 'the preset'} alone: "
            f"{c['wins']}-{c['ties']}-{c['losses']} over {len(pairs)} paired seeds (median difference "
            f"{c['median_diff']:+g} test images, sign test p {c['sign_p']:.2g}); make run's best trial was "
            f"found by its sampler in {found} of {len(pairs)}."
        ),
    ]
    return "\n".join(lines)


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="paired seeds FIRST..FIRST+N-1 (default 5)")
    parser.add_argument("--first-seed", type=int, default=0, metavar="FIRST", help="the first paired seed (default 0)")
    parser.add_argument("--minutes", type=float, default=20.0, help="each method's budget (default 20)")
    parser.add_argument("--limit", type=int, default=None, help="a stratified subset of the images (quick runs)")
    parser.add_argument("--preset", default=DEFAULT_PRESET, help=f"the preset trained alone (default {DEFAULT_PRESET})")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="jsonl of every pair (resumed)")
    parser.add_argument("--report", action="store_true", help="print the verdict of the rows so far, then exit")
    parser.add_argument("--alone", metavar="PRESET", help=argparse.SUPPRESS)  # one preset-alone run (a child)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.alone:
        args.out.write_text(json.dumps(train_alone(args.alone, args.seed, args.minutes, args.limit)))
        return
    if args.seeds < 1 or args.first_seed < 0 or args.minutes <= 0:
        parser.error("--seeds and --minutes must be positive, --first-seed at least 0")
    if args.report:
        _log.info("%s", report(_read(args.results)))
        return
    if len(os.sched_getaffinity(0)) < 2:
        parser.error("needs two cores: the methods run side by side, one core each")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    done = {r["seed"] for r in _read(args.results) if r["minutes"] == args.minutes and r["limit"] == args.limit}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        if seed in done:
            continue
        _log.info("seed %d: make run and %s alone, %g minutes each, side by side", seed, args.preset, args.minutes)
        rows = run_pair(seed, args.minutes, args.limit, args.preset)
        with args.results.open("a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        _log.info("%s", report([r for r in _read(args.results) if r["minutes"] == args.minutes]))


if __name__ == "__main__":
    main()
