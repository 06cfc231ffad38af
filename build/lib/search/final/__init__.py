"""The final model: refit of the best configuration, the ensemble of the best models, the test
evaluation and the summary of a search."""

from search.final._ensemble import (
    LIBRARY_FACTOR,
    Ensemble,
    WeightedAverage,
    average_model,
    build_ensemble,
    log_loss,
    save_ensemble,
    select,
)
from search.final._refit import FINAL_MODEL_ATTR, RefitPlan, plan_refit, refit, refit_reserve
from search.final._summary import SearchSummary, TestEvaluation, evaluate_best, summarize

__all__ = [
    "FINAL_MODEL_ATTR",
    "LIBRARY_FACTOR",
    "Ensemble",
    "RefitPlan",
    "SearchSummary",
    "TestEvaluation",
    "WeightedAverage",
    "average_model",
    "build_ensemble",
    "evaluate_best",
    "log_loss",
    "plan_refit",
    "refit",
    "refit_reserve",
    "save_ensemble",
    "select",
    "summarize",
]
