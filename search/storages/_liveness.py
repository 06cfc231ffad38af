"""Which process runs a trial, so a trial whose process died on this machine is retried at once.

The heartbeat finds a dead worker on any machine, but only after the grace period (90 s by
default). On the machine where the worker ran, the platform can know at once: each running trial
records its process (:class:`WorkerProcess`: host name, boot id, PID namespace, process id and the
process's start time), and :func:`fail_dead_local_trials`, called before each claim, fails a
running trial whose process is gone and queues its retry through the storage's stale-trial
callback (:class:`~search.storages.RetryStaleTrial`, with its hooks), as the heartbeat would.

A trial recorded by another machine, by an earlier boot of this one, or in another PID namespace
(a container that shares the host's name) is left to the heartbeat.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from search.compat import storage_of, trial_id
from search.records import TrialKey, TrialRecord

__all__ = ["WORKER_PROCESS_ATTR", "DeadTrial", "WorkerProcess", "fail_dead_local_trials"]

_log = logging.getLogger("search")

#: the trial user attribute holding the :class:`WorkerProcess` running it (a dict)
WORKER_PROCESS_ATTR = TrialKey.WORKER_PROCESS


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot, ``/proc/<pid>/stat`` field 22); None
    when there is no such process, it has ended and awaits its parent (a zombie), or there is no
    ``/proc``."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces
    try:
        if fields[0] in ("Z", "X"):  # field 3, the state: ended (zombie) or dead
            return None
        return int(fields[19])  # field 22
    except (IndexError, ValueError):
        return None


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


@dataclass(frozen=True)
class WorkerProcess:
    """A process on a machine, told apart from a later process that reuses its id."""

    host: str
    boot_id: str  # /proc/sys/kernel/random/boot_id: changes at every boot
    pid_namespace: str  # /proc/self/ns/pid: containers sharing a host name see other processes
    pid: int
    start_ticks: int | None  # when it started, in clock ticks after boot

    @classmethod
    def current(cls) -> WorkerProcess:
        """This process."""
        pid = os.getpid()
        return cls(
            socket.gethostname(),
            _read("/proc/sys/kernel/random/boot_id"),
            _pid_namespace(),
            pid,
            _start_ticks(pid),
        )

    @classmethod
    def from_attr(cls, value: Any) -> WorkerProcess | None:
        """The process stored in a trial's :data:`WORKER_PROCESS_ATTR` (None if absent or malformed)."""
        if not isinstance(value, dict):
            return None
        try:
            ticks = value.get("start_ticks")
            return cls(
                str(value["host"]),
                str(value["boot_id"]),
                str(value.get("pid_namespace", "")),
                int(value["pid"]),
                None if ticks is None else int(ticks),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def attr(self) -> dict[str, Any]:
        """The value stored in :data:`WORKER_PROCESS_ATTR`."""
        return asdict(self)

    def is_local(self) -> bool:
        """Whether it ran on this machine since its last boot, in this PID namespace: only then
        can its absence be seen here."""
        here = WorkerProcess.current()
        return bool(
            self.boot_id
            and self.host == here.host
            and self.boot_id == here.boot_id
            and self.pid_namespace == here.pid_namespace
        )

    def is_gone(self) -> bool:
        """Whether it is known to have ended: a local process whose id is free or now names a
        process started at another time."""
        if not self.is_local():
            return False
        if not Path("/proc/self/stat").is_file():  # no /proc: nothing can be told
            return False
        ticks = _start_ticks(self.pid)
        if ticks is None:
            return True  # no such process, or a zombie
        return self.start_ticks is not None and ticks != self.start_ticks


@dataclass(frozen=True)
class DeadTrial:
    """A running trial whose process was found gone, and the number of the retry queued for it."""

    trial: FrozenTrial
    process: WorkerProcess
    retry: int | None  # None: out of retries (``MAX_RETRY``), or another storage callback


def fail_dead_local_trials(
    study: optuna.Study, retry: Callable[[optuna.Study, FrozenTrial], int | None]
) -> list[DeadTrial]:
    """Fail every running trial whose recorded process ended on this machine, and retry it.

    Call it while holding the study's :class:`~search.storages.ClaimLock`: a trial being claimed
    has not recorded its process yet, and a retry never inherits its predecessor's process.

    Args:
        study: the study.
        retry: called with each failed trial (as the storage's stale-trial callback would be);
            returns the number of the retry it queued, or None.

    Returns:
        The trials this call failed (none that another process failed first).
    """
    storage = storage_of(study)
    dead: list[DeadTrial] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        process = WorkerProcess.from_attr(TrialRecord.of(trial).worker_process)
        if process is None or not process.is_gone():
            continue
        reason = f"its process {process.pid} on {process.host} ended"
        try:  # Optuna refuses to change a finished trial: the reason first, then the state
            TrialRecord(fail_reason=reason).write_to_storage(storage, trial_id(trial))
            if not storage.set_trial_state_values(trial_id(trial), state=TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:  # another process failed or finished it first
            continue
        failed = copy.deepcopy(storage.get_trial(trial_id(trial)))
        dead.append(DeadTrial(failed, process, retry(study, failed)))
    return dead
