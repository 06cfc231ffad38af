"""The user's settings: each default written once (in SearchSettings), the trial count's rule and
the ``--cv`` check in one place each, and the command line taking them from there."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from search import run
from search.core import SearchSettings, UsageError, check_cv, field_default, resolve_n_trials


@pytest.mark.parametrize(
    ("given", "expected"),
    [("auto", "auto"), ("off", "off"), (2, 2), (10, 10), ("2", 2), ("10", 10)],
)
def test_cv_takes_auto_off_or_a_number_of_folds(given: int | str, expected: int | str) -> None:
    assert check_cv(given) == expected
    assert type(check_cv(given)) is type(expected)


@pytest.mark.parametrize("given", [1, 0, -3, "1", "0", "-3", "2.5", "many", "", " 3", "²", True, 2.0, None, "AUTO"])
def test_anything_else_is_a_one_line_usage_error(given: Any) -> None:
    with pytest.raises(UsageError, match=r"^--cv must be auto, off or a number of folds \(2 or more\), not ") as info:
        check_cv(given)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("n_trials", "timeout", "study_trials", "expected"),
    [
        (None, None, None, 20),  # nothing bounds the invocation: the default count
        (None, 600.0, None, None),  # the time budget bounds it
        (None, None, 50, None),  # the study's count bounds it
        (5, None, None, 5),
        (5, 600.0, None, 5),  # both: whichever comes first
    ],
)
def test_the_trial_count_defaults_to_20_unless_something_else_bounds_the_run(
    n_trials: int | None, timeout: float | None, study_trials: int | None, expected: int | None
) -> None:
    assert resolve_n_trials(n_trials, timeout, study_trials) == expected


def test_the_default_count_is_the_settings_own() -> None:
    assert resolve_n_trials(None, None, None) == SearchSettings("lenet").n_trials == field_default("n_trials")
    with pytest.raises(KeyError):
        field_default("family")  # no default
    with pytest.raises(KeyError):
        field_default("no_such_field")


def test_the_command_lines_defaults_are_the_settings_own() -> None:
    """Every field an option fills, given no option, keeps its SearchSettings default (the
    trial count resolved by its rule)."""
    settings = run.settings_from_args(run.build_parser().parse_args(["--study", "lenet"]))
    expected = SearchSettings("lenet")
    for f in dataclasses.fields(SearchSettings):
        assert getattr(settings, f.name) == getattr(expected, f.name), f.name
    with_timeout = run.settings_from_args(run.build_parser().parse_args(["--study", "lenet", "--timeout", "1m"]))
    assert with_timeout.n_trials is None and with_timeout.timeout == 60
