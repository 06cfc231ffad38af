"""Checkpoints: a retried trial resumes from its predecessor's last completed epoch.

:class:`Checkpoints` saves each trial's model after every epoch, so a trial whose worker died (or
that Ctrl-C stopped) is retried from there instead of starting over.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

__all__ = ["Checkpoints", "Resume"]

_log = logging.getLogger("search")


@dataclass
class Resume:
    """Where a retried trial starts: its predecessor's model after ``epoch`` completed epochs."""

    epoch: int
    model: Any  # keras.Model
    source_trial: int
    history: dict[str, list[float]]


class Checkpoints:
    """A checkpoint per running trial: ``<folder>/<number>.keras`` plus ``.json`` (epochs done).

    The ``.json`` is written after the ``.keras`` file, each through a temporary file and an atomic
    rename, so a worker killed while saving leaves the previous complete checkpoint.

    Args:
        folder: e.g. ``storage/artifacts/checkpoints/<study name>``.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _paths(self, number: int) -> tuple[Path, Path]:
        return self.folder / f"{number}.keras", self.folder / f"{number}.json"

    def callback(
        self, trial: optuna.trial.Trial, history: dict[str, list[float]] | None = None
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
        model_path, meta_path = self._paths(number)
        tmp_model = model_path.with_name(f".{model_path.stem}.tmp.keras")
        model.save(tmp_model)
        os.replace(tmp_model, model_path)
        tmp_meta = meta_path.with_name(f".{meta_path.name}.tmp")
        tmp_meta.write_text(
            json.dumps({"trial": number, "epochs_done": epochs_done, "history": history})
        )
        os.replace(tmp_meta, meta_path)

    def restore(self, trial: optuna.trial.Trial) -> Resume | None:
        """The checkpoint of the trial that ``trial`` retries (the latest one), if any."""
        for number in reversed(self.predecessors(trial)):
            model_path, meta_path = self._paths(int(number))
            if not (model_path.is_file() and meta_path.is_file()):
                continue
            try:
                meta = json.loads(meta_path.read_text())
                import keras

                keras.backend.clear_session()
                model = keras.models.load_model(model_path)
            except Exception as exc:  # a damaged checkpoint: start over rather than fail
                _log.warning(
                    "checkpoint of trial %s unusable (%s): trial %d starts over",
                    number,
                    exc,
                    trial.number,
                )
                continue
            return Resume(int(meta["epochs_done"]), model, int(number), meta.get("history", {}))
        return None

    def predecessors(self, trial: optuna.trial.Trial) -> list[int]:
        """The numbers of the trials ``trial`` retries (empty for a fresh trial)."""
        frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
        return [int(n) for n in frozen.system_attrs.get("retry_history") or []]

    def discard(self, *numbers: int) -> None:
        """Delete the checkpoints of finished trials."""
        for number in numbers:
            for path in self._paths(number):
                path.unlink(missing_ok=True)
