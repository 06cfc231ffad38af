"""Progress in a terminal (rich's live view, under a pseudo-terminal), in a log (plain lines, a
line per epoch of a long trial) and with --quiet (the summary alone)."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import optuna
from rich.console import Console

from search.core import EPOCH_LINES_AFTER_ENV, SearchClock
from search.trials import RUN_ATTR, LiveProgress, TrialStatus

ROOT = Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _args(folder: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "search.run", "--study", "lenet", "--limit", "300", "--max-epochs", "2",
        "--n-trials", "2", "--seed", "1", "--no-mlflow", "--storage", f"sqlite:///{folder}/optuna.db",
        "--artifacts", str(folder / "artifacts"), *extra,
    ]  # fmt: skip


def _env(keras_home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "KERAS_HOME": str(keras_home), "PYTHONPATH": str(ROOT), **extra}
    env.pop(EPOCH_LINES_AFTER_ENV, None)
    env.update(extra)
    return env


def test_live_view_shows_the_search_and_each_workers_trial() -> None:
    study = optuna.create_study(direction="maximize")
    for value in (0.5, 0.75):
        trial = study.ask()
        trial.set_user_attr(RUN_ATTR, "run")
        study.tell(trial, value)
    study.ask().set_user_attr(RUN_ATTR, "run")  # running
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140)
    with LiveProgress(study, "run", SearchClock(600), trials=5, workers=2, console=console, poll=0.05) as live:
        live.update(TrialStatus(1, 2, epoch=2, epochs=5, batch=3, batches=10, elapsed=30.0, eta=45.0))
        live.progress.refresh()
    text = ANSI.sub("", out.getvalue())
    assert "2 done, 1 running, 0 pruned" in text
    assert "best 0.7500 (trial 1)" in text and "left 9:" in text
    assert "worker 1" in text and "trial 2  epoch 2/5  0:30  ETA 0:45" in text and "3/10" in text


def test_terminal_shows_the_live_view(keras_home: Path, tmp_path: Path) -> None:
    master, slave = pty.openpty()
    process = subprocess.Popen(
        _args(tmp_path), cwd=ROOT, env=_env(keras_home), stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=600) == 0
    os.close(master)
    text = ANSI.sub("", b"".join(chunks).decode(errors="replace"))
    assert "━" in text  # rich's bars
    assert re.search(r"search .*\d done, \d running, \d pruned .*elapsed", text), text[-3000:]
    assert re.search(r"trial [01]  epoch [12]/2", text), text[-3000:]
    assert "trial   1  complete" in text  # the finished trials' lines print above the view
    assert "best trial" in text  # and the summary after it


def test_log_has_trial_lines_and_epoch_lines_of_long_trials(keras_home: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = subprocess.run(_args(tmp_path / "a"), cwd=ROOT, env=_env(keras_home), capture_output=True, text=True, timeout=600)
    assert plain.returncode == 0, plain.stderr
    assert "trial   0  complete" in plain.stdout and "trial   1  complete" in plain.stdout
    assert "epoch 1/2" not in plain.stdout  # trials of seconds: no epoch lines
    assert "\x1b[" not in plain.stdout and "━" not in plain.stdout  # no terminal drawing in a log
    long = subprocess.run(
        _args(tmp_path / "b"), cwd=ROOT, env=_env(keras_home, **{EPOCH_LINES_AFTER_ENV: "0"}),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert long.returncode == 0, long.stderr
    lines = long.stdout.splitlines()
    epochs = [l for l in lines if re.match(r"trial +0  epoch [12]/2  val_acc 0\.\d{4}  0:\d\d elapsed", l)]
    assert len(epochs) == 2, long.stdout
    assert lines.index(epochs[-1]) < next(i for i, l in enumerate(lines) if l.startswith("trial   0  complete"))


def test_quiet_shows_the_summary_alone(keras_home: Path, tmp_path: Path) -> None:
    quiet = subprocess.run(
        _args(tmp_path, "--quiet"), cwd=ROOT, env=_env(keras_home, **{EPOCH_LINES_AFTER_ENV: "0"}),
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert quiet.returncode == 0, quiet.stderr
    lines = quiet.stdout.splitlines()
    assert lines[0].startswith("study lenet-fashion_mnist (lenet on fashion_mnist): 2 complete"), lines
    assert lines[1].startswith("best trial") and lines[-1].startswith("best params:")
    assert not any(l.startswith(("trial ", "loaded ", "study lenet-fashion_mnist: ")) for l in lines)


def test_quiet_and_verbose_together_are_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        _args(tmp_path, "--quiet", "--verbose"), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert not (tmp_path / "optuna.db").exists()
