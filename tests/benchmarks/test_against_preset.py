"""benchmarks/against_preset.py: make run against one preset trained alone, side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import against_preset
from benchmarks.simulate.__main__ import make_run_options


def test_the_make_run_side_is_make_runs_own_command_pinned_to_one_core(tmp_path: Path) -> None:
    command = against_preset._pinned(1, against_preset._make_run(3, 20.0, None, tmp_path))
    assert command[:3] == ["taskset", "-c", "1"]
    args = command[4:]
    assert args[:4] == ["-m", "search.run", "--study", "cnn"]
    options = make_run_options()
    assert args[4 : 4 + len(options)] == options  # the Makefile's options, in its order
    assert args[args.index("--timeout") + 1] == "1200" and args[args.index("--seed") + 1] == "3"
    assert str(tmp_path) in args[args.index("--storage") + 1]  # its own study, not the user's
    assert "--limit" not in args


def _pair(seed: int, ours: float, theirs: float, preset: str | None = None) -> list[dict]:
    common = {"seed": seed, "minutes": 20.0, "limit": None}
    return [
        {**common, "method": "make-run", "core": seed % 2, "test_accuracy": ours, "best_alone_accuracy": ours,
         "best_trial": 4, "best_is_preset": preset, "trials": 9, "complete": 5, "pruned": 3},
        {**common, "method": "preset-alone", "core": 1 - seed % 2, "preset": "doc003_cnn_dropout07",
         "test_accuracy": theirs, "epochs": 30, "best_epoch": 21},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("pairs", "verdict"),
    [
        ([(0.9301, 0.9250), (0.9250, 0.9301)], "1-0-1"),
        ([(0.93, 0.9300000001), (0.931, 0.93)], "1-1-0"),  # equal counts of 10,000 images: a tie
        ([(0.92, 0.93), (0.92, 0.93), (0.92, 0.93)], "0-0-3"),
    ],
)
def test_the_report_counts_wins_ties_and_losses_in_test_images(pairs, verdict: str) -> None:
    rows = [r for i, (a, b) in enumerate(pairs) for r in _pair(i, a, b, "doc003_cnn_dropout07" if i == 1 else None)]
    rows += _pair(9, 0.99, 0.5)[:1]  # a seed with one method only is left out
    text = against_preset.report(rows)
    assert f": {verdict} over {len(pairs)} paired seeds" in text
    assert f"found by its sampler in {len(pairs) - 1} of {len(pairs)}" in text  # seed 1's was the preset
    assert text.count("\n| ") == len(pairs) + 1  # the heading and one row per complete pair


def test_the_preset_alone_stops_at_its_budget_with_its_best_epoch(keras_home: Path) -> None:
    row = against_preset.train_alone("doc003_cnn_dropout07", seed=0, minutes=0.1, limit=600)
    assert 1 <= row["epochs"] < against_preset.ALONE_EPOCHS  # stopped by its own clock, not its epochs
    assert 1 <= row["best_epoch"] <= row["epochs"] and 0.0 <= row["test_accuracy"] <= 1.0


@pytest.mark.parametrize("argv", [["--seeds", "0"], ["--first-seed", "-1"], ["--minutes", "0"]])
def test_bad_arguments_exit_2_with_a_clear_error_before_anything_runs(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "pairs.jsonl"
    with pytest.raises(SystemExit) as exc:
        against_preset.main([*argv, "--results", str(results)])
    assert exc.value.code == 2
    assert "error: --seeds and --minutes must be positive" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not results.exists()
