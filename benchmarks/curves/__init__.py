"""Recorded learning curves of the families' spaces: the benchmark search policies are judged on.

``python -m benchmarks.curves.collect --family cnn`` records them (resumable); :func:`load_curves`
reads a curve file (``benchmarks/curves/<family>.jsonl.gz``) as :class:`CurveRecord` objects.
"""

from benchmarks.curves._records import CurveRecord, config_id, load_curves, pack

__all__ = ["CurveRecord", "config_id", "load_curves", "pack"]
