"""The web UIs the project starts: optuna-dashboard in this process, the MLflow server as a child.

:class:`DashboardServer` serves optuna-dashboard's WSGI app (``optuna_dashboard.wsgi``) on a
threaded ``wsgiref`` server, as optuna-dashboard's own command does: several browser tabs and API
calls are answered at once, the request log stays quiet, and :meth:`~DashboardServer.stop` shuts
it down from another thread (``optuna_dashboard.run_server`` blocks in Bottle's single-threaded
server and can only be stopped by ``KeyboardInterrupt``). The study storage is opened by
:func:`search.storages.open_storage`, so the dashboard gets the same long SQLite busy timeout as
the searching processes.

:class:`MlflowServer` runs ``mlflow server`` in its own process group and waits for its
``/health`` endpoint; :meth:`~MlflowServer.stop` terminates the whole group (the server, its
uvicorn worker).

:func:`serve` runs servers until Ctrl-C or SIGTERM and then stops them, without a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from socketserver import ThreadingMixIn
from types import FrameType
from typing import IO, Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from search.core import (
    DATABASE_SCHEMES,
    DEFAULT_ARTIFACT_ROOT,
    DEFAULT_OPTUNA_ARTIFACTS,
    DEFAULT_STORAGE,
    DEFAULT_TRACKING_URI,
    artifact_root_for,
    resolve_tracking_uri,
)

__all__ = [
    "DashboardServer",
    "MlflowServer",
    "ServeError",
    "Server",
    "check_port",
    "mlflow_server",
    "serve",
    "url_of",
]

_log = logging.getLogger("search")

#: how long ``mlflow server`` may take to answer ``/health`` (it migrates a new database first)
MLFLOW_STARTUP_SECONDS = 240.0
#: how long a stopped MLflow server may take before its process group is killed
STOP_SECONDS = 15.0


class ServeError(Exception):
    """Bad input for a UI (port in use, malformed store URL, missing folder): one line, exit 2."""


class Server(Protocol):
    """What :func:`serve` runs."""

    name: str

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def failure(self) -> str | None: ...

    def stop(self) -> None: ...


def url_of(host: str, port: int) -> str:
    """The address a browser opens for a server bound to ``host``:``port``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def check_port(host: str, port: int) -> None:
    """Fail early, with one line, when ``host``:``port`` cannot be listened on.

    Raises:
        ServeError: the port is out of range or in use, or the host is not an address of this machine.
    """
    if not 0 < port < 65536:
        raise ServeError(f"--port must be between 1 and 65535, not {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(f"port {port} on {host} is in use: choose another with --port") from None
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """No line per request on stderr (the dashboard polls every few seconds)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        _log.debug("dashboard: " + format, *args)


class DashboardServer:
    """optuna-dashboard on a study storage and its Optuna artifact store.

    Args:
        storage: an Optuna storage URL, as ``search.run --storage`` takes.
        artifacts: the folder of the Optuna artifact store (``search.run --artifacts``); the
            dashboard shows and serves each trial's artifacts from it.
        host: the interface to listen on.
        port: the port to listen on (0: any free one).
    """

    name = "optuna-dashboard"

    def __init__(
        self,
        storage: str = DEFAULT_STORAGE,
        artifacts: str = DEFAULT_OPTUNA_ARTIFACTS,
        host: str = "127.0.0.1",
        port: int = 8080,
    ) -> None:
        self.storage_url = storage
        self.artifacts = artifacts
        self.host = host
        self.port = port
        self._httpd: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._storage: Any = None

    @property
    def url(self) -> str:
        return url_of(self.host, self.port)

    def start(self) -> None:
        """Open the storage and the artifact store, bind the port, serve in a background thread.

        Raises:
            ServeError: malformed or unreachable storage, missing artifact folder, port in use.
        """
        if self.port:
            check_port(self.host, self.port)
        from optuna.artifacts import FileSystemArtifactStore

        from search.core import StorageError
        from search.storages import open_storage

        try:
            self._storage = open_storage(self.storage_url)
        except StorageError as exc:
            raise ServeError(str(exc)) from None
        folder = Path(self.artifacts)
        try:  # as search.run does: a dashboard may be started before the first search
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ServeError(f"cannot use artifact folder {folder}: {exc.strerror}") from None
        import optuna_dashboard

        app = optuna_dashboard.wsgi(self._storage, artifact_store=FileSystemArtifactStore(str(folder)))
        try:
            self._httpd = make_server(
                self.host, self.port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise ServeError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="dashboard", daemon=True
        )
        self._thread.start()

    def failure(self) -> str | None:
        """Why the server stopped on its own, if it did."""
        if self._thread is not None and not self._thread.is_alive():
            return "optuna-dashboard stopped"
        return None

    def stop(self) -> None:
        """Stop serving, close the port and the storage's connections."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=STOP_SECONDS)
            self._thread = None
        engine = getattr(self._storage, "engine", None)
        if engine is not None:
            engine.dispose()
        self._storage = None


def _check_tracking_uri(uri: str) -> str:
    """The backend store URI ``mlflow server`` opens for ``uri``.

    Raises:
        ServeError: ``uri`` is a tracking server already, malformed, or names a missing folder.
    """
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if scheme in ("http", "https"):
        raise ServeError(f"tracking URI {uri} is an MLflow server already: open it in a browser")
    if scheme in DATABASE_SCHEMES:
        from sqlalchemy.engine import make_url

        try:
            parsed = make_url(uri)
        except Exception:
            raise ServeError(f"malformed tracking URI {uri!r} (expected e.g. {DEFAULT_TRACKING_URI})") from None
        if scheme == "sqlite":
            database = parsed.database or ""
            if not database or database == ":memory:":
                raise ServeError(f"tracking URI {uri!r} names no database file (expected e.g. {DEFAULT_TRACKING_URI})")
            folder = Path(database).parent
            if uri == DEFAULT_TRACKING_URI:
                folder.mkdir(parents=True, exist_ok=True)
            if not folder.is_dir():
                raise ServeError(f"cannot open {uri}: folder {folder} does not exist")
        return parsed.render_as_string(hide_password=False)
    if scheme == "file" or not scheme:
        path = Path(uri.removeprefix("file://") if scheme else uri)
        if not path.is_dir():
            raise ServeError(f"tracking URI {uri!r} is neither a database URL nor an existing folder")
        return path.resolve().as_uri()
    raise ServeError(
        f"unsupported tracking URI {uri!r}: use a database URL such as {DEFAULT_TRACKING_URI}"
    )


def _load_prctl() -> Any:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl() if sys.platform == "linux" else None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if this process dies without stopping it (e.g. SIGKILL)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class MlflowServer:
    """``mlflow server`` on a tracking store, in a child process group.

    Args:
        tracking_uri: the backend store (``search.run --tracking-uri``): a database URL.
        artifact_root: where artifacts of experiments created through this server go (the same
            folder the tracker uses, see :func:`search.core.artifact_root_for`); runs logged
            directly into the store keep their own artifact locations, which the UI reads.
        host: the interface to listen on.
        port: the port to listen on.
        verbose: pass the server's own log through instead of keeping it in a temporary file.
    """

    name = "MLflow UI"

    def __init__(
        self,
        tracking_uri: str = DEFAULT_TRACKING_URI,
        artifact_root: str = DEFAULT_ARTIFACT_ROOT,
        host: str = "127.0.0.1",
        port: int = 5000,
        *,
        verbose: bool = False,
        startup_seconds: float = MLFLOW_STARTUP_SECONDS,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.host = host
        self.port = port
        self.verbose = verbose
        self.startup_seconds = startup_seconds
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return url_of(self.host, self.port)

    def command(self) -> list[str]:
        """The ``mlflow server`` command line.

        Raises:
            ServeError: the tracking URI is not something ``mlflow server`` can open.
        """
        backend = _check_tracking_uri(self.tracking_uri)
        root = Path(self.artifact_root)
        root.mkdir(parents=True, exist_ok=True)
        return [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", backend,
            "--default-artifact-root", root.resolve().as_uri(),
            "--artifacts-destination", root.resolve().as_uri(),
            "--host", self.host,
            "--port", str(self.port),
            "--workers", "1",
        ]  # fmt: skip

    def start(self) -> None:
        """Start ``mlflow server`` and wait until it answers.

        Raises:
            ServeError: bad input, or the server exited before answering (with its last error line).
            TimeoutError: it did not answer within ``startup_seconds``.
        """
        check_port(self.host, self.port)
        command = self.command()
        env = dict(os.environ)
        env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")  # GenAI jobs: not used here
        env.pop("MLFLOW_TRACKING_URI", None)  # the server's own client must not point at itself
        output: IO[bytes] | None = None
        if not self.verbose:
            self._log_file = output = tempfile.NamedTemporaryFile(prefix="mlflow-ui-", suffix=".log")
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            env=env,
            start_new_session=True,  # Ctrl-C reaches this process only; stop() ends the group
            preexec_fn=_die_with_parent if _PRCTL is not None else None,
        )
        health = self.url + "health"
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            failure = self.failure()
            if failure:
                raise ServeError(failure)
            try:
                with urllib.request.urlopen(health, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"mlflow server did not answer at {health} within {self.startup_seconds:.0f}s")

    def _last_error_line(self) -> str:
        if self._log_file is None:
            return ""
        self._log_file.flush()
        lines = [
            line.strip()
            for line in Path(self._log_file.name).read_text(errors="replace").splitlines()
            if line.strip() and not line.startswith((" ", "\t"))
        ]
        # SQLAlchemy ends its errors with "(Background on this error at: https://sqlalche.me/...)",
        # a link, not the reason: the reason is the error line before it
        errors = [
            line for line in lines
            if ("Error" in line or "error" in line) and not line.startswith("(Background on this error")
        ]  # fmt: skip
        return (errors or lines or [""])[-1]

    def failure(self) -> str | None:
        """Why the server exited on its own, if it did (its last error line)."""
        if self._process is None or self._process.poll() is None:
            return None
        reason = self._last_error_line()
        return f"mlflow server exited with code {self._process.returncode}" + (f": {reason}" if reason else "")

    def stop(self) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL after ``STOP_SECONDS``)."""
        process, self._process = self._process, None
        if process is not None:
            for sig, wait in ((signal.SIGTERM, STOP_SECONDS), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
                try:
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            # the group may outlive its leader for a moment: make sure nothing is left
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def mlflow_server(
    tracking_uri: str | None, artifact_root: str | None, host: str, port: int, verbose: bool
) -> MlflowServer:
    """An :class:`MlflowServer` on the store ``search.run`` would log to.

    Raises:
        ServeError: the tracking URI is a server already (nothing to start).
    """
    uri = resolve_tracking_uri(tracking_uri)
    root = artifact_root or artifact_root_for(uri)
    if root is None:
        raise ServeError(f"tracking URI {uri} is an MLflow server already: open it in a browser")
    return MlflowServer(uri, root, host, port, verbose=verbose)


class _Stop(Exception):
    """SIGTERM, turned into an exception in the main thread."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def serve(servers: Sequence[Server]) -> int:
    """Start ``servers`` in order, log their URLs, and run until Ctrl-C or SIGTERM.

    Every server started is stopped on the way out, whatever happens; a second Ctrl-C during
    shutdown is ignored so the children are always terminated.

    Returns:
        0 after Ctrl-C or SIGTERM, 1 when a server stopped on its own.

    Raises:
        ServeError: a server could not start because of bad input.
    """
    started: list[Server] = []
    # Ctrl-C stops the servers even when started where SIGINT is ignored (``cmd &`` in a script)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_term = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        for server in servers:
            server.start()
            started.append(server)
            _log.info("%s: %s", server.name, server.url)
        _log.info("press Ctrl-C to stop")
        while True:
            for server in started:
                failure = server.failure()
                if failure:
                    _log.error("%s", failure)
                    return 1
            time.sleep(0.5)
    except (KeyboardInterrupt, _Stop):
        _log.info("stopping")
        return 0
    except TimeoutError as exc:
        _log.error("%s", exc)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for server in reversed(servers):  # stopping a server that never started does nothing
            server.stop()
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
