"""``search.cli``: the parsers every command shares (one-line errors, ``--version``, durations,
fractions, the options that name a study) and what importing it costs."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from search.cli import (
    ArgumentParser,
    add_host_argument,
    add_study_arguments,
    add_study_options,
    add_tracking_arguments,
    duration,
    fraction,
    package_version,
    serve_main,
)
from search.core import DEFAULT_OPTUNA_ARTIFACTS, DEFAULT_STORAGE
from search.servers import DashboardServer

REPO = Path(__file__).resolve().parents[3]


def _error_of(parser: ArgumentParser, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one stderr line of a parser that rejects ``argv`` with exit code 2."""
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err  # one line: no usage dump
    assert err.startswith(f"{parser.prog}: error: ")
    return err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("20m", 1200.0), ("2h", 7200.0), (" 1.5h ", 5400.0), ("0.5m", 30.0)],
)
def test_duration_in_seconds(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "20x", "-5", "1e3", "20 min", "2h30m", "1,5h"])
def test_a_bad_duration_is_an_argparse_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="invalid duration"):
        duration(text)


def test_a_bad_duration_on_the_command_line_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    p = ArgumentParser(prog="cmd")
    p.add_argument("--timeout", type=duration)
    assert p.parse_args(["--timeout", "20m"]).timeout == 1200.0
    assert "invalid duration '20 minutes'" in _error_of(p, ["--timeout", "20 minutes"], capsys)


@pytest.mark.parametrize(("text", "value"), [("0.25", 0.25), ("1", 1.0), ("1e-3", 0.001)])
def test_fraction_accepts_a_share_above_0_and_at_most_1(text: str, value: float) -> None:
    assert fraction(text) == value


@pytest.mark.parametrize("text", ["0", "-0.1", "1.0001", "2", "nan", "inf", "quarter", ""])
def test_fraction_refuses_anything_else(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="invalid fraction"):
        fraction(text)


def test_every_parser_answers_version(capsys: pytest.CaptureFixture[str]) -> None:
    p = ArgumentParser(prog="python -m search.thing")
    with pytest.raises(SystemExit) as exit_info:
        p.parse_args(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"python -m search.thing {package_version()}\n"


def test_package_version_is_the_installed_distributions() -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        expected = version("keras-hpsearch")
    except PackageNotFoundError:
        expected = "unknown"
    assert package_version() == expected


def test_an_unknown_option_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    p = ArgumentParser(prog="cmd")
    assert "unrecognized arguments: --bogus" in _error_of(p, ["--bogus"], capsys)


def test_study_options_name_a_study_by_family_or_space(capsys: pytest.CaptureFixture[str]) -> None:
    p = ArgumentParser(prog="cmd")
    add_study_options(p)
    args = p.parse_args(["--study", "cnn"])
    assert (args.study, args.space, args.dataset, args.study_name) == ("cnn", None, None, None)
    assert (args.engine, args.tuner) == ("optuna", "hyperband")
    args = p.parse_args(["--space", "my.py:space", "--dataset", "mnist", "--study-name", "x",
                         "--engine", "keras-tuner", "--tuner", "random"])  # fmt: skip
    assert (args.space, args.dataset, args.study_name, args.engine, args.tuner) == (
        "my.py:space", "mnist", "x", "keras-tuner", "random",
    )  # fmt: skip
    assert "one of the arguments --study --space is required" in _error_of(p, [], capsys)
    assert "not allowed with argument" in _error_of(p, ["--study", "cnn", "--space", "s"], capsys)
    assert "invalid choice: 'ray'" in _error_of(p, ["--study", "cnn", "--engine", "ray"], capsys)
    assert "invalid choice: 'grid'" in _error_of(p, ["--study", "cnn", "--tuner", "grid"], capsys)


def test_study_options_may_be_optional() -> None:
    p = ArgumentParser(prog="cmd")
    add_study_options(p, required=False)
    args = p.parse_args([])
    assert args.study is None and args.space is None


def test_store_and_host_arguments_default_to_this_machines_stores() -> None:
    p = ArgumentParser(prog="cmd")
    add_study_arguments(p)
    add_tracking_arguments(p)
    add_host_argument(p)
    args = p.parse_args([])
    assert (args.storage, args.artifacts) == (DEFAULT_STORAGE, DEFAULT_OPTUNA_ARTIFACTS)
    assert args.tracking_uri is None and args.artifact_root is None  # resolved later ($MLFLOW_TRACKING_URI)
    assert args.host == "127.0.0.1"
    args = p.parse_args(["--storage", "sqlite:///x.db", "--tracking-uri", "sqlite:///m.db", "--host", "0.0.0.0"])
    assert (args.storage, args.tracking_uri, args.host) == ("sqlite:///x.db", "sqlite:///m.db", "0.0.0.0")


def _dashboard_parser() -> ArgumentParser:
    p = ArgumentParser(prog="cmd")
    add_study_arguments(p)
    add_host_argument(p)
    p.add_argument("--port", type=int)
    p.add_argument("--verbose", action="store_true")
    return p


def test_serve_main_turns_a_port_in_use_into_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit_info:
            serve_main(
                _dashboard_parser(),
                ["--storage", storage, "--artifacts", str(tmp_path / "a"), "--port", str(port)],
                lambda a: [DashboardServer(a.storage, a.artifacts, a.host, a.port)],
            )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == f"cmd: error: port {port} on 127.0.0.1 is in use: choose another with --port\n"
    assert not (tmp_path / "optuna.db").exists()  # nothing created before the error


def test_serve_main_turns_a_bad_storage_into_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        serve_main(
            _dashboard_parser(),
            ["--storage", f"sqlite:///{tmp_path}/missing/optuna.db", "--artifacts", str(tmp_path / "a"),
             "--port", "0"],
            lambda a: [DashboardServer(a.storage, a.artifacts, a.host, a.port)],
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("cmd: error: cannot open ") and "does not exist" in err


def test_importing_search_cli_imports_neither_tensorflow_nor_optuna() -> None:
    heavy = ["tensorflow", "keras", "optuna", "mlflow", "keras_tuner", "optuna_dashboard"]
    code = f"import json, sys; import search.cli; print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout  # fmt: skip
    assert json.loads(out.strip().splitlines()[-1]) == []
