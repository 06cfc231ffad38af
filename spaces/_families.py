"""The built-in families: the model families of the documents, by the name ``--study`` takes."""

from __future__ import annotations

from spaces import cifar_cnn, cnn, lenet, resnet, rnn
from spaces._base import Space

__all__ = ["FAMILIES"]

#: Every built-in family, by the name ``--study`` takes.
FAMILIES: dict[str, Space] = {
    "cnn": cnn.SPACE,
    "lenet": lenet.SPACE,
    "resnet": resnet.SPACE,
    "rnn": rnn.SPACE,
    "cifar_cnn": cifar_cnn.SPACE,
}

for _name, _space in FAMILIES.items():
    _space._found_as(_name)  # get_space(name) finds it in any process
