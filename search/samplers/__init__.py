"""Samplers: who proposes the next trial's parameters (``--sampler``)."""

from search.samplers._factory import SAMPLERS, make_sampler

__all__ = ["SAMPLERS", "make_sampler"]
