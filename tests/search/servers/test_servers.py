"""``search.servers``: optuna-dashboard and ``mlflow server`` started on free ports of 127.0.0.1
against real stores, answering HTTP, stopping cleanly; bad input is one :class:`ServeError` line."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import optuna
import psutil
import pytest

from search.core import DEFAULT_ARTIFACT_ROOT
from search.servers import (
    DashboardServer,
    MlflowServer,
    ServeError,
    check_port,
    mlflow_server,
    url_of,
)
from tests.search._browser import REPO, free_port, get_json, port_is_open, ui_command


@pytest.fixture
def listening() -> Iterator[int]:
    """A port of 127.0.0.1 that something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _storage_with_a_study(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="watched", storage=url, direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.75))
    study.add_trial(optuna.trial.create_trial(value=0.5))
    return url


# --- addresses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080/"),
        ("0.0.0.0", "http://127.0.0.1:8080/"),  # every interface: the browser opens loopback
        ("", "http://127.0.0.1:8080/"),
        ("::", "http://[::1]:8080/"),
        ("::1", "http://[::1]:8080/"),
        ("localhost", "http://localhost:8080/"),
    ],
)
def test_url_of(host: str, url: str) -> None:
    assert url_of(host, 8080) == url


def test_check_port_passes_a_free_port() -> None:
    check_port("127.0.0.1", free_port())


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_check_port_refuses_a_port_out_of_range(port: int) -> None:
    with pytest.raises(ServeError, match=f"--port must be between 1 and 65535, not {port}"):
        check_port("127.0.0.1", port)


def test_check_port_refuses_a_port_in_use(listening: int) -> None:
    with pytest.raises(ServeError, match=f"^port {listening} on 127.0.0.1 is in use: choose another with --port$"):
        check_port("127.0.0.1", listening)


def test_check_port_refuses_a_host_that_is_not_this_machine() -> None:
    with pytest.raises(ServeError, match="^cannot listen on no-such-host.invalid: "):
        check_port("no-such-host.invalid", 8080)
    with pytest.raises(ServeError, match=r"^cannot listen on 192\.0\.2\.1:\d+: "):  # TEST-NET-1
        check_port("192.0.2.1", free_port())


# --- optuna-dashboard -----------------------------------------------------------------------------


def test_dashboard_serves_the_study_and_stops(tmp_path: Path) -> None:
    artifacts = tmp_path / "not-yet" / "artifacts"
    server = DashboardServer(_storage_with_a_study(tmp_path), str(artifacts), "127.0.0.1", 0)
    server.start()
    try:
        port = server.port
        assert port != 0 and server.url == f"http://127.0.0.1:{port}/"
        assert artifacts.is_dir()  # made, as search.run would, before the first search
        with urllib.request.urlopen(server.url, timeout=30) as response:
            assert response.status == 200
            assert "text/html" in response.headers["Content-Type"]
        (summary,) = get_json(server.url + "api/studies")["study_summaries"]
        assert summary["study_name"] == "watched"
        study = get_json(server.url + f"api/studies/{summary['study_id']}")
        assert sorted(t["values"][0] for t in study["trials"]) == [0.5, 0.75]
        assert server.failure() is None
    finally:
        server.stop()
    assert not port_is_open(port)
    assert server.failure() is None
    server.stop()  # twice: nothing left to stop


def test_dashboard_on_a_port_in_use_fails_before_opening_the_storage(tmp_path: Path, listening: int) -> None:
    server = DashboardServer(f"sqlite:///{tmp_path}/optuna.db", str(tmp_path / "artifacts"), "127.0.0.1", listening)
    with pytest.raises(ServeError, match=f"port {listening} on 127.0.0.1 is in use"):
        server.start()
    assert list(tmp_path.iterdir()) == []  # no database, no artifact folder
    server.stop()


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("not a url", "^malformed storage URL 'not a url'"),
        ("sqlite:///{tmp}/missing/optuna.db", "^cannot open sqlite:///.*/missing/optuna.db: folder .* does not exist$"),
    ],
)
def test_dashboard_on_a_bad_storage_is_one_line(tmp_path: Path, storage: str, message: str) -> None:
    server = DashboardServer(storage.format(tmp=tmp_path), str(tmp_path / "artifacts"), "127.0.0.1", 0)
    with pytest.raises(ServeError, match=message) as error:
        server.start()
    assert "\n" not in str(error.value)
    server.stop()


def test_dashboard_on_an_artifact_path_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    server = DashboardServer(f"sqlite:///{tmp_path}/optuna.db", str(tmp_path / "file" / "artifacts"), "127.0.0.1", 0)
    with pytest.raises(ServeError, match="^cannot use artifact folder .*file/artifacts: Not a directory$"):
        server.start()
    server.stop()


# --- the MLflow server ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://127.0.0.1:5000", "is an MLflow server already"),
        ("sqlite://", "names no database file"),
        ("sqlite:///:memory:", "names no database file"),
        ("sqlite:///{tmp}/missing/mlflow.db", "folder .*missing does not exist"),
        ("{tmp}/no-such-folder", "is neither a database URL nor an existing folder"),
        ("file://{tmp}/no-such-folder", "is neither a database URL nor an existing folder"),
        ("ftp://host/store", "unsupported tracking URI 'ftp://host/store'"),
    ],
)
def test_mlflow_server_refuses_a_store_it_cannot_open(tmp_path: Path, uri: str, message: str) -> None:
    server = MlflowServer(uri.format(tmp=tmp_path), str(tmp_path / "artifacts"), "127.0.0.1", free_port())
    with pytest.raises(ServeError, match=message):
        server.command()
    with pytest.raises(ServeError, match=message):
        server.start()
    server.stop()


def test_mlflow_server_command_opens_the_store_and_artifact_root_given(tmp_path: Path) -> None:
    root = tmp_path / "art"
    command = MlflowServer(f"sqlite:///{tmp_path}/mlflow.db", str(root), "127.0.0.1", 5123).command()
    assert command[:4] == [sys.executable, "-m", "mlflow", "server"]
    options = dict(zip(command[4::2], command[5::2], strict=True))
    assert options["--backend-store-uri"] == f"sqlite:///{tmp_path}/mlflow.db"
    assert options["--default-artifact-root"] == options["--artifacts-destination"] == root.resolve().as_uri()
    assert (options["--host"], options["--port"]) == ("127.0.0.1", "5123")
    assert root.is_dir()
    # a folder store is passed as a file URI
    folder = MlflowServer(str(tmp_path), str(root), "127.0.0.1", 5123).command()
    assert folder[folder.index("--backend-store-uri") + 1] == tmp_path.resolve().as_uri()


def test_mlflow_server_puts_artifacts_beside_a_sqlite_store(tmp_path: Path) -> None:
    server = mlflow_server(f"sqlite:///{tmp_path}/mlruns/mlflow.db", None, "127.0.0.1", 5000, False)
    assert server.artifact_root == str(tmp_path / "mlruns" / "artifacts")
    assert mlflow_server("postgresql://u@db/mlflow", None, "127.0.0.1", 5000, False).artifact_root == DEFAULT_ARTIFACT_ROOT
    assert mlflow_server(f"sqlite:///{tmp_path}/m.db", str(tmp_path / "x"), "::", 1, True).artifact_root == str(tmp_path / "x")
    with pytest.raises(ServeError, match="is an MLflow server already"):
        mlflow_server("https://mlflow.example.org", None, "127.0.0.1", 5000, False)


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those of ``processes`` still running (a zombie has exited: it only waits to be reaped)."""
    alive = []
    for p in processes:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_mlflow_server_answers_and_stops_its_whole_process_group(tmp_path: Path) -> None:
    before = _children()
    server = MlflowServer(f"sqlite:///{tmp_path}/mlflow.db", str(tmp_path / "artifacts"), "127.0.0.1", free_port())
    server.start()
    try:
        started = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
        assert started, "mlflow server runs in a child process"
        experiments = get_json(server.url + "api/2.0/mlflow/experiments/search?max_results=5")["experiments"]
        assert [e["name"] for e in experiments] == ["Default"]
        assert experiments[0]["artifact_location"] == (tmp_path / "artifacts").resolve().as_uri() + "/0"
        assert server.failure() is None
    finally:
        server.stop()
    assert not port_is_open(server.port)
    assert not _alive(started)


def test_mlflow_server_that_dies_is_reported_and_its_workers_are_stopped(tmp_path: Path) -> None:
    before = _children()
    server = MlflowServer(f"sqlite:///{tmp_path}/mlflow.db", str(tmp_path / "artifacts"), "127.0.0.1", free_port())
    server.start()
    try:
        leader = psutil.Process()
        (child,) = [p for p in leader.children() if p.pid not in before]
        workers = child.children(recursive=True)
        child.send_signal(signal.SIGKILL)  # not reaped here: the server's Popen must see the exit
        deadline = time.monotonic() + 30
        while server.failure() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (server.failure() or "").startswith("mlflow server exited with code -9")
    finally:
        server.stop()
    # the orphaned workers got SIGKILL from stop(): they exit (and free the port) a moment later
    deadline = time.monotonic() + 30
    while (_alive(workers) or port_is_open(server.port)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(workers)
    assert not port_is_open(server.port)


def test_mlflow_server_that_exits_before_answering_is_a_serve_error(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").write_bytes(b"this is not a SQLite database\n" * 100)
    server = MlflowServer(f"sqlite:///{tmp_path}/mlflow.db", str(tmp_path / "artifacts"), "127.0.0.1", free_port())
    with pytest.raises(ServeError, match=r"^mlflow server exited with code [1-9]\d*(: |$)") as error:
        server.start()
    assert "\n" not in str(error.value)
    assert "not a database" in str(error.value) and "sqlalche.me" not in str(error.value)  # the reason, not a link
    server.stop()


# --- serve(): the commands' loop --------------------------------------------------------------------


def test_serve_stops_the_dashboard_on_ctrl_c(tmp_path: Path) -> None:
    storage = _storage_with_a_study(tmp_path)
    # ui_command checks the stop on SIGINT: exit code 0, no traceback, port closed
    with ui_command(
        "search.dashboard", "--storage", storage, "--artifacts", str(tmp_path / "a"), log=tmp_path / "log", timeout=120
    ) as ui:
        assert get_json(ui.url + "api/studies")["study_summaries"][0]["study_name"] == "watched"
    assert "stopping" in ui.output()


def test_serve_stops_the_dashboard_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "search.dashboard", "--storage", _storage_with_a_study(tmp_path),
         "--artifacts", str(tmp_path / "a"), "--port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not port_is_open(port) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert port_is_open(port), process.communicate()[0] if process.poll() is not None else "not listening"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert not port_is_open(port)


def test_a_dashboard_command_on_a_port_in_use_exits_2_with_one_line(tmp_path: Path, listening: int) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "search.dashboard", "--storage", f"sqlite:///{tmp_path}/optuna.db",
         "--artifacts", str(tmp_path / "a"), "--port", str(listening)],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        f"python -m search.dashboard: error: port {listening} on 127.0.0.1 is in use: choose another with --port\n"
    )
    assert list(tmp_path.iterdir()) == []
