"""One recorded configuration of a family's space, and the file that holds many of them.

A curve file is gzip-compressed JSON lines, one :class:`CurveRecord` a line, small enough for
the repository. While a collection runs, each record is first written to a file of its own in
``<curves>.d/`` (through a temporary file and an atomic rename, so a killed worker leaves whole
records only); :func:`pack` folds them into the compressed file. :func:`load_curves` reads both,
so a collection that was stopped can be read, resumed and packed later.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CurveRecord", "config_id", "load_curves", "pack", "pending_dir", "write_pending"]

_log = logging.getLogger(__name__)

#: the version of the record format, stored in every record
FORMAT = 1


def config_id(family: str, params: Mapping[str, Any]) -> str:
    """A configuration's stable id: its family and parameters, canonically serialised."""
    import hashlib

    text = json.dumps({"family": family, "params": dict(params)}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass
class CurveRecord:
    """What training one configuration for its full epochs measured.

    Every per-epoch list has one entry per epoch trained, in order; accuracies are shares in
    [0, 1], times are wall seconds on the machine the probe describes.
    """

    id: str  # config_id(family, params)
    family: str  # the space's name, e.g. "cnn"
    source: str  # how the configuration was drawn: a preset's name, "prior" or "uniform"
    params: dict[str, Any]  # the point of the space, as a trial records it
    status: str  # "ok", "unbuildable" (the space refuses the point) or "failed" (training raised)
    reason: str | None = None  # why, when not "ok"
    epochs: int = 0  # epochs trained: the configuration's own epoch count, capped by max_epochs
    max_epochs: int = 0  # the cap of the collection (the search's --max-epochs)
    param_count: int | None = None
    multiply_adds: int | None = None  # per image (search.training.multiply_adds)
    batch_size: int | None = None
    val_accuracy: list[float] = field(default_factory=list)  # every epoch on every training image
    val_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)  # the test split after each epoch:
    # only to score a search's final model, never to choose it
    epoch_seconds: list[float] = field(default_factory=list)  # each epoch, its validation included
    subset_val_accuracy: list[float] = field(default_factory=list)  # the first epochs again, the
    # first on the first-epoch subset (as a search with --first-epoch-fraction trains them)
    subset_epoch_seconds: list[float] = field(default_factory=list)
    subset_images: int | None = None  # images of that first epoch (None: no subset at this size)
    probe_seconds: float | None = None  # the machine-speed probe when this was recorded
    # (benchmarks.curves.probe): divide times by it to compare recordings of different days
    data: dict[str, Any] = field(default_factory=dict)  # data set, limit, split sizes, seed
    format: int = FORMAT

    @property
    def best_epoch(self) -> int | None:
        """The 0-based epoch of the best validation accuracy (None: none recorded)."""
        if not self.val_accuracy:
            return None
        return max(range(len(self.val_accuracy)), key=lambda i: (self.val_accuracy[i], -i))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CurveRecord:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def pending_dir(path: Path) -> Path:
    """The folder of records written since the last :func:`pack` of ``path``."""
    return path.with_name(path.name + ".d")


def write_pending(path: Path, record: CurveRecord) -> None:
    """Write one record beside ``path``, whole or not at all."""
    folder = pending_dir(path)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{record.id}.{os.getpid()}.tmp"
    tmp.write_text(record.to_json() + "\n")
    os.replace(tmp, folder / f"{record.id}.json")


def _read_packed(path: Path) -> Iterable[CurveRecord]:
    if not path.is_file():
        return
    try:
        with gzip.open(path, "rt") as f:
            for line in f:
                if line.strip():
                    yield CurveRecord.from_dict(json.loads(line))
    except (EOFError, OSError, json.JSONDecodeError) as exc:  # a torn copy: keep what was read
        _log.warning("%s ends early (%s); the records before that are kept", path, exc)


def load_curves(path: str | Path) -> list[CurveRecord]:
    """Every record of a curve file and of its pending folder (a later record of the same id wins)."""
    return list(_load(Path(path))[0].values())


def _load(path: Path) -> tuple[dict[str, CurveRecord], list[Path]]:
    """The records by id, and the pending files they were read from."""
    records: dict[str, CurveRecord] = {r.id: r for r in _read_packed(path)}
    read: list[Path] = []
    folder = pending_dir(path)
    if folder.is_dir():
        for file in sorted(folder.glob("*.json")):
            try:
                record = CurveRecord.from_dict(json.loads(file.read_text()))
            except (OSError, json.JSONDecodeError) as exc:
                _log.warning("skipping %s: %s", file, exc)
                continue
            records[record.id] = record
            read.append(file)
    return records, read


def pack(path: str | Path) -> int:
    """Fold the pending records into the compressed file (sorted by id, so the file changes only
    where records do) and delete the pending files it read (a collection may still be writing
    others); returns how many records the file holds."""
    path = Path(path)
    by_id, read = _load(path)
    records = sorted(by_id.values(), key=lambda r: r.id)
    tmp = path.with_name(f".{path.name}.tmp")
    with gzip.GzipFile(tmp, "wb", mtime=0) as raw:  # mtime 0: the same records, the same bytes
        for record in records:
            raw.write((record.to_json() + "\n").encode())
    os.replace(tmp, path)
    for file in read:  # only those folded in: a collection still running may have written more
        file.unlink(missing_ok=True)
    try:
        pending_dir(path).rmdir()
    except OSError:  # not empty (or not there)
        pass
    return len(records)
