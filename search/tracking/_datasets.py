"""The data of a search as MLflow dataset inputs: what every run trained, validated and tested on.

Each part (training, validation, test) is one MLflow dataset named after the data and the part,
with its source (where the data was read from), a digest of every image and label (so two studies
on different data, or on different ``--limit`` subsets, are told apart at a glance), its shape and
its class counts (the dataset's profile). The digests are computed once per process: the data set
is loaded once per process and shared by its trials.
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
import weakref

import numpy as np
from mlflow.entities import Dataset as DatasetEntity
from mlflow.entities import DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from search.data import Dataset, dataset_source

__all__ = ["CONTEXTS", "dataset_inputs", "digest"]

#: the parts of a data set and their MLflow contexts
CONTEXTS = (("train", "training"), ("val", "validation"), ("test", "test"))
#: hex digits of the digest (MLflow shows digests of about this length)
_DIGEST_LENGTH = 12

_LOCK = threading.Lock()
_INPUTS: weakref.WeakKeyDictionary[Dataset, list[DatasetInput]] = weakref.WeakKeyDictionary()


def digest(x: np.ndarray, y: np.ndarray) -> str:
    """A digest of every image and label (SHA-256 of their bytes, shapes and types)."""
    h = hashlib.sha256()
    for array in (x, y):
        h.update(f"{array.dtype.str}{array.shape}".encode())
        h.update(np.ascontiguousarray(array).data)
    return h.hexdigest()[:_DIGEST_LENGTH]


def _part(data: Dataset, part: str, context: str, source: str) -> DatasetInput:
    import mlflow.data

    x, y = getattr(data, f"x_{part}"), getattr(data, f"y_{part}")
    counts = np.bincount(y, minlength=data.num_classes) if len(y) else np.zeros(data.num_classes, int)
    with warnings.catch_warnings():  # a local path "can be interpreted in multiple ways": the
        warnings.simplefilter("ignore", UserWarning)  # same local source class, registered twice
        numpy_dataset = mlflow.data.from_numpy(
            x[:1], targets=y[:1], source=source, name=f"{data.name}-{part}", digest=digest(x, y)
        )  # a one-image slice: MLflow's schema; the digest and profile describe the whole part
    described = numpy_dataset.to_dict()  # name, digest, source, source_type, schema, profile
    profile = {
        "images": len(y),
        "features_shape": list(x.shape),
        "targets_shape": list(y.shape),
        "class_counts": {name: int(n) for name, n in zip(data.class_names, counts, strict=True)},
    }
    entity = DatasetEntity(
        name=described["name"],
        digest=described["digest"],
        source_type=described["source_type"],
        source=described["source"],
        schema=described.get("schema"),
        profile=json.dumps(profile),
    )
    return DatasetInput(entity, tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])


def dataset_inputs(data: Dataset) -> list[DatasetInput]:
    """The training, validation and test parts of ``data`` as MLflow dataset inputs (computed
    once per data set and process)."""
    with _LOCK:
        inputs = _INPUTS.get(data)
        if inputs is None:
            try:
                source = dataset_source(data.name)
            except Exception:  # moved since it was loaded: the name still says what it was
                source = data.name
            inputs = [_part(data, part, context, source) for part, context in CONTEXTS]
            _INPUTS[data] = inputs
        return inputs
