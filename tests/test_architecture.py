"""The shape of the code: layers import only downwards, no cycles, and every command answers
``--help`` without TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("run", "report", "compare", "predict", "dashboard", "ui", "browse")


def test_import_contracts_hold() -> None:
    """import-linter's contracts in pyproject.toml: layers, no cycles, private modules."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _help_of(module: str) -> subprocess.CompletedProcess[str]:
    """``python -m MODULE --help`` in a fresh interpreter, printing the heavy packages it loaded."""
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['{module}', '--help']\n"
        "try:\n"
        f"    runpy.run_module('{module}', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'optuna', 'mlflow') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_imports_neither_tensorflow_nor_optuna(command: str) -> None:
    done = _help_of(f"search.{command}")
    assert done.returncode == 0, done.stderr
    assert "usage: python -m search." in done.stdout
    assert "HEAVY []" in done.stdout
    assert done.stderr == ""  # no absl/TensorFlow start-up lines


@pytest.mark.parametrize("module", ["benchmarks.simulate", "benchmarks.against_preset", "benchmarks.curves.collect"])
def test_the_search_benchmarks_help_imports_neither_tensorflow_nor_optuna(module: str) -> None:
    """The instruments that judge the search (the simulator, its recorder, the real pairs)."""
    done = _help_of(module)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    assert "HEAVY []" in done.stdout


def test_option_names_match_what_they_name() -> None:
    """``--help`` lists names kept beside the settings; they must be what the factories build."""
    from search import run
    from search.core import PRUNER_NAMES, SAMPLER_NAMES
    from search.pruners import PRUNERS
    from search.samplers import SAMPLERS
    from spaces import FAMILIES

    assert sorted(SAMPLER_NAMES) == sorted(SAMPLERS)
    assert sorted(PRUNER_NAMES) == sorted(PRUNERS)
    assert sorted(run.FAMILY_NAMES) == sorted(FAMILIES)


def test_the_command_line_reference_is_up_to_date() -> None:
    """docs/cli.md shows every command's current ``--help`` (docs/make_cli.py rewrites it)."""
    done = subprocess.run([sys.executable, str(REPO / "docs" / "make_cli.py"), "--check"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
