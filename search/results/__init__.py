"""Reading finished studies back: rows for tables, the best trial, the final model."""

from search.results._results import (
    StudyRow,
    best_trial,
    final_model_of,
    import_space_of,
    load_best_model,
    load_study,
    open_studies,
    studies_of_space,
    study_name_for,
    study_row,
)

__all__ = [
    "StudyRow",
    "best_trial",
    "final_model_of",
    "import_space_of",
    "load_best_model",
    "load_study",
    "open_studies",
    "studies_of_space",
    "study_name_for",
    "study_row",
]
