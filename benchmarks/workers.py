"""Figures for many workers: throughput, dead-worker detection, storage cost per trial.

    python benchmarks/workers.py                 # quick: a few minutes
    python benchmarks/workers.py --full          # the figures of the README (about half an hour)
    python benchmarks/workers.py --only storage  # one part: throughput, detection, storage, local

* ``throughput``: trials per hour of the ``lenet`` study with 1 and 2 workers on this machine
  (``python -m search.run --study lenet --limit 5000 --max-epochs 2 --pruner none``).
* ``detection``: seconds from a worker's SIGKILL until another worker has failed its trial and
  queued the retry, with the default heartbeat (30 s, grace 90 s; ``--full``) or 2 s / 6 s (quick).
* ``storage``: a cheap objective (no training) in 32 worker processes (8 quick) on a PostgreSQL
  server started for the benchmark: storage seconds per trial (claim under the lock, ask, report
  3 epochs, tell) and trials per second for the whole study -- where the design saturates.
* ``local``: the same cheap objective in 4 processes on SQLite (120 s busy timeout) and on
  Optuna's journal file: seconds per trial and how many "database is locked" errors.

Run from the repository root with the project's environment active. The machine may be shared:
each figure is printed with what it was measured with.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _quiet() -> None:
    """No Optuna chatter: its experimental-feature warnings and per-trial log lines."""
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.ERROR)


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# --- throughput ---------------------------------------------------------------------------------


def _keras_home(tmp: str) -> str:
    """``$KERAS_HOME`` with Fashion-MNIST: the user's, or one seeded from ``../shared`` (offline)."""
    import shutil

    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    if (home / "datasets" / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file():
        return str(home)
    shared = ROOT.parent / "shared" / "data" / "fashion-mnist"
    if not shared.is_dir():
        return str(home)  # Keras downloads it
    cache = Path(tmp) / "keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for name in shared.glob("*.gz"):
        shutil.copyfile(name, cache / name.name)
    return str(Path(tmp) / "keras")


def throughput(workers: int, trials: int, limit: int, epochs: int) -> dict[str, float]:
    """Run the lenet study with ``workers`` processes; trials per hour from first start to last end."""
    import optuna

    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{tmp}/optuna.db"
        cmd = [
            sys.executable, "-m", "search.run", "--study", "lenet", "--limit", str(limit),
            "--max-epochs", str(epochs), "--n-trials", str(trials), "--workers", str(workers),
            "--pruner", "none", "--sampler", "random", "--seed", "0", "--no-mlflow", "--no-test",
            "--storage", storage, "--artifacts", f"{tmp}/artifacts",
        ]  # fmt: skip
        start = time.perf_counter()
        done = subprocess.run(
            cmd,
            cwd=tmp,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_HOME": _keras_home(tmp)},
        )
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        got = optuna.load_study(study_name="lenet-fashion_mnist", storage=storage).get_trials()
        first = min(t.datetime_start for t in got if t.datetime_start)
        last = max(t.datetime_complete for t in got if t.datetime_complete)
        span = (last - first).total_seconds()
        per_trial = statistics.mean(t.duration.total_seconds() for t in got if t.duration)
    return {
        "trials": len(got),
        "span": span,
        "wall": wall,
        "per_hour": 3600 * len(got) / span,
        "trial_s": per_trial,
    }


# --- dead-worker detection ----------------------------------------------------------------------


def _sleeper(storage_url: str, study_name: str, started: Any) -> None:
    """A worker whose trial runs for ever (until it is killed)."""
    import optuna

    from search.storages import ClaimLock, open_storage
    from search.trials import TrialBudget, run_trials

    _quiet()
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage_url))

    def forever(trial: optuna.trial.Trial) -> float:
        started.set()
        while True:
            time.sleep(1)

    run_trials(study, forever, TrialBudget(1, "sleeper"), ClaimLock(storage_url, study_name))


def detection(heartbeat: int, grace: int) -> dict[str, float]:
    """Kill a worker mid-trial; a surviving worker polls as ``search.trials`` does (every 5 s or heartbeat)."""
    import optuna
    from optuna.trial import TrialState

    os.environ["SEARCH_HEARTBEAT_SECONDS"], os.environ["SEARCH_GRACE_SECONDS"] = (
        str(heartbeat),
        str(grace),
    )
    from search.storages import open_storage

    _quiet()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/optuna.db"
        optuna.create_study(study_name="d", storage=open_storage(url))
        ctx = multiprocessing.get_context("spawn")
        started = ctx.Event()
        worker = ctx.Process(target=_sleeper, args=(url, "d", started))
        worker.start()
        started.wait(120)
        time.sleep(heartbeat * 1.5)  # die somewhere between two heartbeats
        os.kill(worker.pid or 0, signal.SIGKILL)
        killed = time.perf_counter()
        worker.join()
        study = optuna.load_study(study_name="d", storage=open_storage(url))
        poll = min(5.0, heartbeat)
        while not study.get_trials(states=(TrialState.WAITING,)):
            time.sleep(poll)
            optuna.storages.fail_stale_trials(study)  # what search.trials calls
        return {"seconds": time.perf_counter() - killed, "heartbeat": heartbeat, "grace": grace}


# --- storage cost per trial ---------------------------------------------------------------------


def _cheap_worker(storage_url: str, study_name: str, trials_each: int, results: Any) -> None:
    """Run ``trials_each`` cheap trials through the platform's loop; put (seconds, trials, errors)."""
    import optuna

    from search.storages import ClaimLock, open_storage
    from search.trials import TrialBudget, run_trials

    _quiet()
    errors = 0
    storage = open_storage(storage_url)
    study = optuna.load_study(
        study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler()
    )

    def cheap(trial: optuna.trial.Trial) -> float:
        x = trial.suggest_float("x", -10, 10)
        y = trial.suggest_int("y", 1, 100, log=True)
        z = trial.suggest_categorical("z", ["adam", "sgd", "rmsprop"])
        for epoch in range(3):  # as a 3-epoch trial reports to the pruner
            trial.report(x * x + epoch, epoch)
        trial.set_user_attr("note", f"{z}-{y}")
        return x * x + y

    start = time.perf_counter()
    ran = 0
    while ran < trials_each:
        try:
            ran += run_trials(
                study,
                cheap,
                TrialBudget(trials_each - ran, run=f"{os.getpid()}"),
                ClaimLock(storage_url, study_name),
            )
        except Exception as exc:
            errors += 1
            if "locked" not in str(exc):
                raise
    results.put((time.perf_counter() - start, ran, errors))


def storage_cost(url: str, workers: int, trials_each: int) -> dict[str, float]:
    """``workers`` processes each running ``trials_each`` cheap trials against ``url``."""
    import optuna

    from search.storages import open_storage

    name = f"cheap-{workers}-{time.time_ns()}"
    optuna.create_study(study_name=name, storage=open_storage(url))
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_cheap_worker, args=(url, name, trials_each, results))
        for _ in range(workers)
    ]
    start = time.perf_counter()
    for p in procs:
        p.start()
    got = [results.get(timeout=3600) for _ in procs]
    wall = time.perf_counter() - start
    for p in procs:
        p.join()
    per_trial = statistics.mean(seconds / max(ran, 1) for seconds, ran, _ in got)
    trials = sum(ran for _, ran, _ in got)
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    assert len(study.trials) == trials, (len(study.trials), trials)
    return {
        "workers": workers,
        "trials": trials,
        "per_trial": per_trial,
        "per_second": trials / max(seconds for seconds, _, _ in got),
        "errors": sum(e for _, _, e in got),
        "wall": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="README settings (slow)")
    parser.add_argument(
        "--only", choices=("throughput", "detection", "storage", "local"), action="append"
    )
    parser.add_argument(
        "--postgres", help="a PostgreSQL URL to use (default: start a temporary server)"
    )
    args = parser.parse_args()
    _quiet()
    parts = args.only or ["throughput", "detection", "storage", "local"]
    _say(f"machine: {os.cpu_count()} cores (possibly shared with other jobs)")
    if "throughput" in parts:
        trials, limit = (6, 5000) if args.full else (4, 2000)
        for workers in (1, 2):
            r = throughput(workers, trials, limit, epochs=2)
            _say(
                f"throughput lenet --limit {limit} --max-epochs 2, {workers} worker(s): {r['trials']} trials in "
                f"{r['span']:.0f}s ({r['wall']:.0f}s with start-up): {r['per_hour']:.0f} trials/hour, "
                f"{r['trial_s']:.1f}s per trial"
            )
    if "detection" in parts:
        heartbeat, grace = (30, 90) if args.full else (2, 6)
        r = detection(heartbeat, grace)
        _say(
            f"dead worker detected and its trial queued again {r['seconds']:.1f}s after SIGKILL (heartbeat {heartbeat}s, grace {grace}s)"
        )
    if "local" in parts:
        with tempfile.TemporaryDirectory() as tmp:
            for url in (f"sqlite:///{tmp}/optuna.db", f"journal:///{tmp}/journal.log"):
                r = storage_cost(url, 4, 40 if args.full else 15)
                _say(
                    f"local storage {url.split(':')[0]}, 4 processes: {r['trials']} cheap trials, "
                    f"{1000 * r['per_trial']:.0f} ms per trial per worker, {r['per_second']:.1f} trials/s, "
                    f"{r['errors']} 'database is locked' errors"
                )
    if "storage" in parts:
        workers, each = (32, 20) if args.full else (8, 10)
        if args.postgres:
            r = storage_cost(args.postgres, workers, each)
        else:
            from tests.conftest import _postgres_bin, temporary_postgres

            bindir = _postgres_bin()
            if bindir is None:
                _say(
                    "storage: skipped, PostgreSQL not installed (make system), or pass --postgres URL"
                )
                return
            with temporary_postgres(bindir) as url:
                r = storage_cost(url, workers, each)
        _say(
            f"PostgreSQL, {workers} worker processes x {each} cheap trials: {1000 * r['per_trial']:.0f} ms of "
            f"storage per trial per worker, {r['per_second']:.1f} trials/s for the study, {r['errors']} errors"
        )


if __name__ == "__main__":
    main()
