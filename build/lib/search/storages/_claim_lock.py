"""A lock every worker of a study shares while it counts and starts a trial."""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["ClaimLock"]


class ClaimLock:
    """A lock shared by every worker of one study, held while a worker counts and starts a trial.

    PostgreSQL: a session advisory lock (``pg_advisory_lock``) on a key derived from the study
    name, so workers on every machine take turns. SQLite and journal files: an ``flock`` on
    ``<file>.claim-lock`` beside the database (such storage is local to one machine). Any other
    storage: a lock within this process only (``exact`` is False: the count may be overshot by
    workers elsewhere).
    """

    def __init__(self, storage_url: str, study_name: str) -> None:
        self._thread_lock = threading.Lock()
        self._file: Path | None = None
        self._engine: Any = None
        self._conn: Any = None
        self._key = int.from_bytes(
            hashlib.sha256(f"search:{study_name}".encode()).digest()[:8], "big", signed=True
        )
        self.exact = True
        if storage_url.startswith("journal://"):
            # not "<file>.lock": Optuna's journal backend uses that name for its own lock
            self._file = Path(storage_url.removeprefix("journal://") + ".claim-lock")
            return
        from sqlalchemy.engine import make_url

        url = make_url(storage_url)
        backend = url.get_backend_name()
        if backend == "sqlite" and url.database and url.database != ":memory:":
            self._file = Path(url.database + ".claim-lock")
        elif backend == "postgresql":
            import sqlalchemy
            from sqlalchemy.pool import NullPool

            self._engine = sqlalchemy.create_engine(
                storage_url, poolclass=NullPool, connect_args={"connect_timeout": 10}
            )
        elif backend != "sqlite":  # in-memory SQLite has one process anyway
            self.exact = False

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            if self._file is not None:
                self._fd = os.open(self._file, os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            elif self._engine is not None:
                from sqlalchemy import text

                if self._conn is None:
                    self._conn = self._engine.connect()
                self._conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": self._key})
                self._conn.commit()
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._file is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            elif self._conn is not None:
                from sqlalchemy import text

                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._conn.commit()
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Release the lock's database connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._engine is not None:
            self._engine.dispose()
