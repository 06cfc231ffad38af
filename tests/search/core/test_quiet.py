"""TensorFlow's native start-up lines stay off stderr; every other line still shows."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from search.core import KNOWN_START_UP_LINES
from search.core._quiet import _filtered_stderr

# What TensorFlow 2.21 wrote at the start of every command on a machine without a GPU driver.
START_UP = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795803140.700199   17909 port.cc:153] oneDNN custom operations are on. "
    "You may see slightly different numerical results.\n"
    "I0000 00:00:1795803140.700510   17909 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.\n"
    "E0000 00:00:1795803144.888770   17909 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
)


def test_the_known_lines_are_dropped_and_any_other_is_written_back(capfd: pytest.CaptureFixture[str]) -> None:
    with _filtered_stderr(KNOWN_START_UP_LINES):
        os.write(2, START_UP.encode())  # as native code writes: straight to file descriptor 2
        os.write(2, b"E0000 something else went wrong\n")
        os.write(2, b"a Python warning\n")
    err = capfd.readouterr().err
    assert err == "E0000 something else went wrong\na Python warning\n"


def test_stderr_is_restored_after_the_block(capfd: pytest.CaptureFixture[str]) -> None:
    with _filtered_stderr(KNOWN_START_UP_LINES):
        pass
    os.write(2, START_UP.encode())
    assert capfd.readouterr().err == START_UP


def test_a_command_starts_without_tensorflows_start_up_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "search.run", "--study", "lenet", "--show-space"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "lenet" in done.stdout
    assert done.stderr == ""
