"""The final model: the choice of the best configuration (cross-validated when the validation
split is small), refit of the best configuration, the ensemble of the best models, the test
evaluation and the summary of a search."""

from search.final._crossval import (
    MODEL_CHOICE_ATTR,
    SMALL_VALIDATION,
    FinalistScore,
    ModelChoice,
    choose_model,
    crossval_reserve,
    crossvalidate,
    cv_folds,
    finalists,
)
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
from search.final._summary import (
    SearchEffort,
    SearchSummary,
    TestEvaluation,
    evaluate_best,
    search_effort,
    summarize,
)

__all__ = [
    "FINAL_MODEL_ATTR",
    "LIBRARY_FACTOR",
    "MODEL_CHOICE_ATTR",
    "SMALL_VALIDATION",
    "Ensemble",
    "FinalistScore",
    "ModelChoice",
    "RefitPlan",
    "SearchEffort",
    "SearchSummary",
    "TestEvaluation",
    "WeightedAverage",
    "average_model",
    "build_ensemble",
    "choose_model",
    "crossval_reserve",
    "crossvalidate",
    "cv_folds",
    "evaluate_best",
    "finalists",
    "log_loss",
    "plan_refit",
    "refit",
    "refit_reserve",
    "save_ensemble",
    "search_effort",
    "select",
    "summarize",
]
