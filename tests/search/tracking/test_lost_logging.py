"""A tracking server that answers the start-up check, then fails every call: the search goes on,
with one warning, and its summary says that MLflow logging was lost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search import run


class _Broken(BaseHTTPRequestHandler):
    """``/health`` is fine; every MLflow API call fails with 500."""

    def _answer(self) -> None:
        ok = self.path.rstrip("/").endswith("/health")
        body = b"OK" if ok else b'{"error_code": "INTERNAL_ERROR", "message": "the disk is full"}'
        self.send_response(200 if ok else 500)
        self.send_header("Content-Type", "text/plain" if ok else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def broken_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail at once, not after minutes
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_tracking_store_failing_mid_search_is_a_warning_and_the_summary_says_logging_was_lost(
    keras_home: Path, tmp_path: Path, broken_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    args = ["--study", "lenet", "--limit", "300", "--max-epochs", "1", "--n-trials", "2", "--pruner", "none",
            "--no-test", "--storage", storage, "--artifacts", str(tmp_path / "a"), "--tracking-uri", broken_server]  # fmt: skip
    assert run.main(args) == 0
    out = capsys.readouterr().out
    assert out.count("MLflow logging failed") == 1, out  # one warning, not one per call
    assert "the search goes on without it" in out
    assert "Traceback" not in out
    assert "MLflow logging was lost from the first error on" in out.splitlines()[-1]
    trials = optuna.load_study(study_name="lenet-fashion_mnist", storage=storage).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
