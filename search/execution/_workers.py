"""The processes of ``--workers``: N spawned workers on one study, summarised once by the parent.

:func:`run_workers` starts N spawned processes; each opens the study itself (after the parent
checked every input), uses ``cores / N`` TensorFlow threads (or ``--threads``), and with ``--gpus``
sees only its own GPU (``CUDA_VISIBLE_DEVICES``). Ctrl-C reaches every worker; each records its
running trial as interrupted and queues it again, so the next run resumes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

from search.core import SearchSettings, exit_on_usage_error, redact, setup_logging, start_tensorflow
from search.execution._prepare import Invocation, Prepared, prepare
from search.execution._search import (
    enqueue_and_announce,
    finish_search,
    finished_by,
    live_progress,
    make_clock,
    run_search,
)
from search.final import SearchSummary
from search.storages import ClaimLock
from search.tracking import observers_for
from search.trials import ObserverGroup, OptunaArtifacts, TrialObserver

__all__ = ["run_workers", "worker_threads"]

_log = logging.getLogger("search")


def worker_threads(workers: int, threads: int | None) -> int:
    """TensorFlow threads per worker: ``--threads``, or an equal share of the cores."""
    if threads:
        return threads
    return max(1, (os.cpu_count() or 1) // workers)


def _gpu_ids() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries."""
    import tensorflow as tf

    count = len(tf.config.list_physical_devices("GPU"))
    visible = [
        v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()
    ]
    return visible[:count] if visible else [str(i) for i in range(count)]


def _worker_main(settings: SearchSettings, invocation: Invocation, reports: Any = None) -> None:
    """A worker process: open the (already checked) study, run trials until the budget is spent.

    Args:
        reports: the parent's live view's queue (None: the worker logs its own lines).
    """
    start_tensorflow()  # a spawned process starts afresh: TensorFlow's start-up lines kept off stderr
    setup_logging(settings.verbose, settings.quiet)
    with exit_on_usage_error(f"search.run worker {invocation.worker_index}"):
        prepared = prepare(settings, invocation)
        # Same --seed in every worker would sample the same trials: give each its own stream, as
        # Optuna does for its parallel threads (the seed still fixes the data split).
        prepared.study.sampler.reseed_rng()
        try:
            sink = reports.put if reports is not None else None
            run_search(prepared, observers_for(settings, in_worker=True, data=prepared.data), progress_sink=sink)
        except KeyboardInterrupt:
            sys.exit(130)


def run_workers(prepared: Prepared, observers: list[TrialObserver] | None = None) -> SearchSummary:
    """Run ``settings.workers`` worker processes on the prepared study; summarise once at the end.

    Raises:
        KeyboardInterrupt: after every worker stopped (Ctrl-C).
    """
    s, study = prepared.settings, prepared.study
    group = ObserverGroup([OptunaArtifacts(prepared.artifact_store), *(observers or [])])
    run_tag = prepared.invocation.run_tag
    threads = worker_threads(s.workers, s.threads)
    gpus = _gpu_ids() if s.gpus else []
    if s.gpus and not gpus:
        _log.warning("--gpus: no GPU found; the workers train on the CPU")
    probe = ClaimLock(s.storage, study.study_name)
    if not probe.exact:
        _log.warning(
            "storage %s: workers on other machines may overshoot the trial count", redact(s.storage)
        )
    probe.close()
    where = f", {s.workers} workers x {threads} threads" + (f" on GPUs {','.join(gpus)}" if gpus else "")
    enqueue_and_announce(prepared, where)  # once, here, not by every worker
    group.on_search_start(study)
    clock = make_clock(prepared)
    ctx = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
    processes = []
    start = time.perf_counter()
    with live_progress(prepared, clock, s.workers) as live:
        reports = None
        if live is not None:  # the workers report to the parent's view, one line each
            reports = ctx.Queue()
            live.follow(reports)
        for index in range(s.workers):
            child = dataclasses.replace(s, workers=1, evaluate=False, threads=threads)
            # one budget for all: the workers' trials end when the parent's search does
            invocation = Invocation(run_tag, worker_index=index, started=clock.started)
            env = {"CUDA_VISIBLE_DEVICES": gpus[index % len(gpus)]} if gpus else {}
            with _environment(env):
                process = ctx.Process(
                    target=_worker_main, args=(child, invocation, reports), name=f"search-worker-{index}"
                )
                process.start()
            processes.append(process)
        interrupted = _join(processes)
    return finish_search(
        prepared,
        group,
        trials_this_run=finished_by(study, run_tag),
        wall_seconds=time.perf_counter() - start,
        interrupted=interrupted,
        clock=clock,
    )


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables while a child process starts (spawned children inherit them)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _join(processes: list[Any]) -> bool:
    """Wait for the workers; on Ctrl-C pass SIGINT on to each and wait on. True if interrupted."""
    interrupted = False
    reported: set[int] = set()
    while any(p.is_alive() for p in processes):
        try:
            for p in processes:
                p.join(0.2)
                _report_exit(p, reported)
        except KeyboardInterrupt:
            if not interrupted:
                interrupted = True
                _log.warning(
                    "interrupted: stopping the workers; their trials are recorded and queued again"
                )
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the workers finish recording
            for p in processes:
                if p.is_alive() and p.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p.pid, signal.SIGINT)
    for p in processes:
        _report_exit(p, reported)
    if interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return interrupted or any(p.exitcode == 130 for p in processes)


def _report_exit(process: Any, reported: set[int]) -> None:
    code = process.exitcode
    if code is None or code in (0, 130) or id(process) in reported:
        return
    reported.add(id(process))
    if code < 0:
        _log.warning(
            "%s was killed (signal %d): its trial is retried by the next claim on this machine",
            process.name,
            -code,
        )
    else:
        _log.warning("%s ended with exit code %d", process.name, code)
