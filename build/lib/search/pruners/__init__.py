"""Pruners: who stops a hopeless trial early (``--pruner``), and the chance-level rule on top."""

from search.pruners._chance import MIN_VAL_IMAGES, ChanceLevelPruner, NoiseTolerantPruner
from search.pruners._factory import PRUNERS, make_pruner

__all__ = ["MIN_VAL_IMAGES", "PRUNERS", "ChanceLevelPruner", "NoiseTolerantPruner", "make_pruner"]
