"""Samplers: who proposes the next trial's parameters (``--sampler``)."""

from search.samplers._factory import SAMPLERS, make_sampler
from search.samplers._prior import CENTRE_KEY, MODE_KEY, MODES, REDRAWS_KEY, PriorSampler

__all__ = [
    "CENTRE_KEY",
    "MODES",
    "MODE_KEY",
    "REDRAWS_KEY",
    "SAMPLERS",
    "PriorSampler",
    "make_sampler",
]
