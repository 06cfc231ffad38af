"""Tables and figures of trials: learning curves, confusion matrices, Markdown tables (plotly and PNG)."""

from search.figures._figures import (
    confusion_figure,
    confusion_matrix,
    confusion_png,
    learning_curves_figure,
    learning_curves_png,
    markdown_table,
    per_class_rows,
)

__all__ = [
    "confusion_figure",
    "confusion_matrix",
    "confusion_png",
    "learning_curves_figure",
    "learning_curves_png",
    "markdown_table",
    "per_class_rows",
]
