"""Start TensorFlow without its native start-up lines on stderr.

``TF_CPP_MIN_LOG_LEVEL=2`` hides TensorFlow's own INFO and WARNING logs, but TensorFlow now logs
through Abseil, and Abseil writes every line logged before ``absl::InitializeLog()`` whatever the
level (abseil/abseil-cpp#1957). So every command began with "All log messages before
absl::InitializeLog() ...", "oneDNN custom operations are on", "Could not find cuda drivers" (twice
each) and, on a machine without a GPU driver, an ``E0000 ... failed call to cuInit`` that reads like
a failure. :func:`start_tensorflow` imports TensorFlow and looks for GPUs once, with the process's
stderr (file descriptor 2, where the native code writes) captured, then writes back every captured
line except these known ones: any other message, a Python warning or a real error, still shows.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

__all__ = ["KNOWN_START_UP_LINES", "start_tensorflow"]

# Lines TensorFlow's native code writes while it loads and looks for GPUs, on every machine.
KNOWN_START_UP_LINES = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|\] oneDNN custom operations are on"
    r"|\] Could not find cuda drivers on your machine"
    r"|\] failed call to cuInit"
    r"|\] TensorFlow binary is optimized to use available CPU instructions"
    r"|rebuild TensorFlow with the appropriate compiler flags"
)


@contextlib.contextmanager
def _filtered_stderr(drop: re.Pattern[str]) -> Iterator[None]:
    """Capture file descriptor 2 while the block runs; then write back the lines ``drop`` misses."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode(errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not drop.search(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def start_tensorflow() -> None:
    """Import TensorFlow and list its GPUs with the known start-up lines kept off stderr.

    Call it first thing in a command, before anything imports Keras; later imports are free.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    with _filtered_stderr(KNOWN_START_UP_LINES):
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
