"""Fixtures of the ``search.data`` tests: no downloads, no file reads."""

from __future__ import annotations

import builtins
import io
import urllib.error
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Makes every Keras download fail as on a machine without network.

    Returns:
        The URLs Keras tried to download, in order.
    """
    from keras.src.utils import file_utils  # noqa: PLC0415 - imports TensorFlow

    attempts: list[str] = []

    def fail(url: str, *args: Any, **kwargs: Any) -> None:
        attempts.append(url)
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(file_utils, "urlretrieve", fail)
    return attempts


@pytest.fixture
def forbid_reads(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """A function that, once called, makes opening any file fail the test.

    Returns:
        The function; ``open``, ``io.open`` (``Path.open``), ``gzip``, ``np.load`` and PIL all go
        through the two patched names.
    """

    def forbid() -> None:
        def refuse(file: Any, *args: Any, **kwargs: Any) -> None:
            raise AssertionError(f"unexpected file read: {file}")

        monkeypatch.setattr(builtins, "open", refuse)
        monkeypatch.setattr(io, "open", refuse)

    return forbid
