"""Records: what a trial stores in its study, typed, under the names studies on disk hold.

The bottom layer: every package reads and writes a trial's attributes through
:class:`TrialRecord` (its fields, their meanings and units) and :class:`TrialKey` (their stored
names). Nothing here imports Optuna, TensorFlow or MLflow: a trial is anything with
``user_attrs`` (and ``set_user_attr`` to write).
"""

from search.records._keys import CURVES, TrialKey
from search.records._trial import RecordedTrial, TrialRecord, WritableTrial

__all__ = ["CURVES", "RecordedTrial", "TrialKey", "TrialRecord", "WritableTrial"]
