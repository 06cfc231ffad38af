"""Fixtures shared by the whole test suite.

``keras_home``: a private Keras cache seeded with the real Fashion-MNIST from ``../shared`` (this
machine and CI have no internet), so ``load_dataset("fashion_mnist")`` works without a download.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"
"""The project's read-only material, beside the checkout (see ``../shared/README.md``)."""

FASHION_MNIST_DIR = SHARED_DIR / "data" / "fashion-mnist"
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture(scope="session")
def keras_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary Keras home whose cache holds the real Fashion-MNIST, for the whole session.

    Copies the four original files into ``<home>/datasets/fashion-mnist/`` (writable copies: tests
    may damage their own copies, never ``../shared``) and sets ``$KERAS_HOME`` to ``<home>`` until
    the session ends. ``search.data.load_dataset`` resolves ``$KERAS_HOME`` at each call. Keras
    itself reads it once, at its first import; if Keras is already imported, its cached value is
    pointed at ``<home>`` too, so ``keras.datasets.fashion_mnist.load_data()`` also reads the copy.

    Tests that need another cache (corrupt or missing files, generated MNIST or CIFAR-10 files) set
    ``KERAS_HOME`` to their own ``tmp_path`` with ``monkeypatch.setenv`` instead.

    Yields:
        The Keras home folder.
    """
    home = tmp_path_factory.mktemp("keras_home")
    cache = home / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_HOME", str(home))
        keras_config = sys.modules.get("keras.src.backend.config")
        if keras_config is not None:
            # Keras resolved $KERAS_HOME when imported; raising=False: a private name may change.
            patch.setattr(keras_config, "_KERAS_DIR", str(home), raising=False)
        if all((FASHION_MNIST_DIR / name).is_file() for name in FASHION_MNIST_FILES):
            for name in FASHION_MNIST_FILES:
                shutil.copyfile(FASHION_MNIST_DIR / name, cache / name)
        else:  # no ../shared: the platform's own loader downloads through Keras, where it can
            _download_fashion_mnist()
        yield home


def _download_fashion_mnist() -> None:
    """Fetch Fashion-MNIST into ``$KERAS_HOME`` through the platform's loader, or skip the test."""
    from search.data import DataError, load_dataset

    try:
        load_dataset("fashion_mnist", limit=100)
    except DataError as exc:
        pytest.skip(
            f"needs Fashion-MNIST: not in {FASHION_MNIST_DIR}/ and Keras could not download it ({exc})"
        )


# --- PostgreSQL: a real server on loopback for the multi-worker and storage tests -----------------

POSTGRES_PASSWORD = "pg-s3cret-Zq7"
"""The test server's password: tests check it never shows up in logs, MLflow params or tags."""


def _postgres_bin() -> Path | None:
    """Debian's PostgreSQL server binaries (``/usr/lib/postgresql/<version>/bin``), newest first."""
    import glob

    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if all((Path(folder) / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def temporary_postgres(bindir: Path) -> Iterator[str]:
    """Start a throw-away PostgreSQL server on 127.0.0.1 and yield the URL of its ``search`` database.

    ``initdb`` into a fresh temporary folder, ``pg_ctl start`` on a free port (as the ``postgres``
    user when running as root: the server refuses to run as root), password authentication over
    TCP, then ``pg_ctl stop`` and the folder removed. Also used by ``benchmarks/workers.py``.
    """
    import os
    import subprocess
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="search-pg-"))  # not under pytest's 0700 root-only tmp
    prefix: list[str] = []
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    pwfile = folder / "pw"
    pwfile.write_text(POSTGRES_PASSWORD + "\n")
    if prefix:
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    data, port = folder / "data", _free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True)

    run(
        str(bindir / "initdb"), "-D", str(data), "-U", "search", f"--pwfile={pwfile}",
        "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
    )  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c max_connections=200 -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    try:
        run(str(bindir / "createdb"), "-h", str(folder), "-p", str(port), "-U", "search", "search")
        yield f"postgresql://search:{POSTGRES_PASSWORD}@127.0.0.1:{port}/search"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a PostgreSQL database on a server started for this test session (127.0.0.1).

    Skips only when Debian's PostgreSQL server binaries are missing (``make system`` installs them),
    and never in CI (``$CI`` set), where that is a broken set-up that must fail.
    """
    bindir = _postgres_bin()
    if bindir is None:
        (pytest.fail if os.environ.get("CI") else pytest.skip)("PostgreSQL server binaries not installed (/usr/lib/postgresql/*/bin): run `make system`")
    with temporary_postgres(bindir) as url:
        yield url


@pytest.fixture
def postgres_db(postgres_url: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server, for one test."""
    import uuid

    import sqlalchemy

    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return postgres_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(autouse=True)
def _float32_after_each_test() -> Iterator[None]:
    """A search run in-process sets the process's precision (``auto`` is bfloat16 on a CPU with
    native bfloat16); put float32 back so that no test's numbers depend on the one before it."""
    yield
    devices = sys.modules.get("search.training._devices")
    if devices is not None and devices.precision_policy() != "float32":
        devices.configure_precision("float32", warn=False)
