"""Checkpoints: a retried trial resumes from its predecessor's last completed epoch.

:class:`Checkpoints` saves each trial's model after every epoch, so a trial whose worker died (or
that Ctrl-C stopped) is retried from there instead of starting over.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Checkpoints", "Resume"]

_log = logging.getLogger("search")


class _Trial(Protocol):
    """A running trial (an Optuna ``Trial``): its number, and its study, whose ``get_trials``
    holds the numbers of the trials it retries (system attribute ``retry_history``)."""

    @property
    def number(self) -> int: ...

    @property
    def study(self) -> Any: ...


@dataclass
class Resume:
    """Where a retried trial starts: its predecessor's model after ``epoch`` completed epochs."""

    epoch: int
    model: Any  # keras.Model
    source_trial: int
    history: dict[str, list[float]]


class Checkpoints:
    """The checkpoints of each running trial: ``<folder>/<number>.json`` lists its latest two
    models, ``<number>.e<epochs>.keras``, each with its size and SHA-256.

    Each model is written through a temporary file and an atomic rename, then the ``.json`` (also
    renamed into place), then models older than the previous one are deleted. A worker killed while
    saving therefore leaves the ``.json`` naming complete files; a model file that does not match
    its recorded size or checksum (a torn or damaged file) is skipped, and the retry resumes from
    the previous checkpoint, or starts over: it never fails because of one.

    Args:
        folder: e.g. ``storage/artifacts/checkpoints/<study name>``.
    """

    #: checkpoints kept per trial: the latest, and the previous in case the latest is damaged
    KEEP = 2

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _meta_path(self, number: int) -> Path:
        return self.folder / f"{number}.json"

    def _model_path(self, number: int, epochs_done: int) -> Path:
        return self.folder / f"{number}.e{epochs_done}.keras"

    def callback(
        self, trial: _Trial, history: dict[str, list[float]] | None = None
    ) -> Any:
        """A Keras callback saving ``trial``'s model after each epoch (``seconds``: each save).

        Args:
            trial: the running trial.
            history: the epochs of the checkpoint it resumed from, kept in its own checkpoints.
        """
        import keras

        checkpoints = self

        class _Save(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []
                self.history: dict[str, list[float]] = {
                    k: list(v) for k, v in (history or {}).items()
                }

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                for key, value in (logs or {}).items():
                    self.history.setdefault(key, []).append(float(value))
                if epoch + 1 >= self.params.get("epochs", 0):
                    return  # the trial's last epoch: it ends now, and its checkpoints go with it
                start = time.perf_counter()
                checkpoints.save(trial.number, self.model, epoch + 1, self.history)
                self.seconds.append(time.perf_counter() - start)

        return _Save()

    def save(
        self, number: int, model: Any, epochs_done: int, history: dict[str, list[float]]
    ) -> None:
        """Write ``model`` as trial ``number``'s checkpoint after ``epochs_done`` epochs."""
        self.folder.mkdir(parents=True, exist_ok=True)
        model_path = self._model_path(number, epochs_done)
        tmp_model = self.folder / f".{number}.tmp.keras"
        model.save(tmp_model)
        size, digest = _fingerprint(tmp_model)
        os.replace(tmp_model, model_path)
        entry = {"epochs_done": epochs_done, "file": model_path.name, "size": size, "sha256": digest}
        kept = [entry, *self._entries(number)[: self.KEEP - 1]]
        kept = [e for i, e in enumerate(kept) if i == 0 or e["file"] != entry["file"]]
        meta_path = self._meta_path(number)
        tmp_meta = self.folder / f".{number}.json.tmp"
        tmp_meta.write_text(json.dumps({"trial": number, "checkpoints": kept, "history": history}))
        os.replace(tmp_meta, meta_path)
        names = {e["file"] for e in kept}
        for old in self.folder.glob(f"{number}.e*.keras"):
            if old.name not in names:
                old.unlink(missing_ok=True)

    def _meta(self, number: int) -> dict[str, Any] | None:
        """Trial ``number``'s ``.json`` (None: missing or unreadable)."""
        try:
            meta = json.loads(self._meta_path(number).read_text())
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) else None

    def _entries(self, number: int) -> list[dict[str, Any]]:
        """Trial ``number``'s checkpoints, latest first (an older ``.json`` names one file)."""
        meta = self._meta(number)
        if meta is None:
            return []
        if "checkpoints" in meta:
            return [e for e in meta["checkpoints"] if isinstance(e, dict) and "file" in e]
        if "epochs_done" in meta:  # written before checksums: <number>.keras
            return [{"epochs_done": meta["epochs_done"], "file": f"{number}.keras"}]
        return []

    def _intact(self, number: int) -> list[dict[str, Any]]:
        """Trial ``number``'s checkpoints whose file matches its size and checksum, latest first;
        each damaged one is logged."""
        intact = []
        for entry in self._entries(number):
            path = self.folder / str(entry["file"])
            problem = None
            if not path.is_file():
                problem = "its file is missing"
            elif "sha256" in entry:
                size, digest = _fingerprint(path)
                if size != entry.get("size") or digest != entry["sha256"]:
                    problem = f"{path.name} is damaged ({size} bytes, {entry.get('size')} written)"
            if problem is None:
                intact.append(entry)
            else:
                _log.warning(
                    "checkpoint of trial %d after epoch %s unusable: %s",
                    number, entry.get("epochs_done"), problem,
                )  # fmt: skip
        return intact

    def latest_epoch(self, numbers: list[int]) -> int | None:
        """The epochs done by the latest intact checkpoint of the last of ``numbers`` that has one
        (a trial and the trials it retried, oldest first); None: there is none."""
        for number in reversed(numbers):
            for entry in self._intact(number):
                return int(entry["epochs_done"])
        return None

    def restore(self, trial: _Trial) -> Resume | None:
        """The latest intact checkpoint of the trials that ``trial`` retries, if any."""
        for number in reversed(self.predecessors(trial)):
            meta = self._meta(number) or {}
            for entry in self._intact(number):
                epochs = int(entry["epochs_done"])
                try:
                    import keras

                    keras.backend.clear_session()
                    model = keras.models.load_model(self.folder / str(entry["file"]))
                except Exception as exc:  # unreadable despite its checksum: an older one, or over
                    _log.warning(
                        "checkpoint of trial %d after epoch %d unusable (%s)", number, epochs, exc
                    )
                    continue
                history = {k: list(v)[:epochs] for k, v in (meta.get("history") or {}).items()}
                return Resume(epochs, model, number, history)
        if self.predecessors(trial):
            _log.debug("trial %d starts from scratch: no usable checkpoint", trial.number)
        return None

    def predecessors(self, trial: _Trial) -> list[int]:
        """The numbers of the trials ``trial`` retries (empty for a fresh trial)."""
        frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
        return [int(n) for n in frozen.system_attrs.get("retry_history") or []]

    def discard(self, *numbers: int) -> None:
        """Delete the checkpoints of finished trials."""
        for number in numbers:
            for path in (
                self._meta_path(number),
                self.folder / f"{number}.keras",
                self.folder / f".{number}.tmp.keras",
                self.folder / f".{number}.json.tmp",
                *self.folder.glob(f"{number}.e*.keras"),
            ):
                path.unlink(missing_ok=True)


def _fingerprint(path: Path) -> tuple[int, str]:
    """The size and SHA-256 of the file ``path``."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
