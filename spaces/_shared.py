"""What the family modules share: the activations they search and how they write their presets.

Every preset of the built-in families is a configuration a document ended with. The documents
used none of the platform's training extras (label smoothing, weight decay, a learning-rate
schedule, augmentation) and trained with categorical cross-entropy, so :func:`document_preset`
switches those off explicitly (:class:`~spaces.FixedParams` is strict: a preset must name every
parameter its point asks for) and :func:`presets` keys the presets by their names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spaces._base import Preset

__all__ = ["ACTIVATIONS", "BN_MOMENTUM", "NO_EXTRAS", "document_preset", "presets"]

#: the activations the conv/dense families search: the documents' relu and tanh, and the leaky
#: ReLU, ELU and Swish that document 000 proposed
ACTIVATIONS = ("relu", "tanh", "leaky_relu", "elu", "swish")

#: batch norm's moving-average momentum: 0.9 (PyTorch's 0.1) rather than Keras' 0.99, whose
#: averages still hold half their initial values after 70 steps, so that a model's validation
#: accuracy after one short epoch (a first rung: 9,000 images at batch 128) reflects what it
#: learned (CNN 003 validated at 0.24 there with 0.99 while training at 0.72); the weights learned
#: are the same, only the statistics used at inference settle sooner
BN_MOMENTUM = 0.9

#: the training extras no document used, switched off
NO_EXTRAS: Mapping[str, Any] = {
    "label_smoothing_on": False,
    "weight_decay_on": False,
    "lr_schedule": "constant",
    "shift": 0.0,
    "hflip": False,
}


def document_preset(
    name: str,
    source: str,
    description: str,
    params: Mapping[str, Any],
    *,
    param_count: int | None = None,
    dataset: str = "fashion_mnist",
) -> Preset:
    """A document's configuration: ``params`` with cross-entropy and :data:`NO_EXTRAS` added.

    Args:
        name: the preset's name, as ``--preset`` and the study's trials show it.
        source: the document it comes from, e.g. ``"000"``.
        description: the model and its training, in one line.
        params: the architecture and the training parameters the document chose.
        param_count: the parameter count the document reports (checked by the tests).
        dataset: the data set it was built for.
    """
    full = {"loss": "categorical_crossentropy", **NO_EXTRAS, **params}
    return Preset(name, source, description, full, param_count, dataset)


def presets(*items: Preset) -> dict[str, Preset]:
    """``items`` keyed by their names, in order."""
    return {preset.name: preset for preset in items}
