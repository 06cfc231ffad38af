"""The tables and figures the documents made by hand: per-class scores, confusion matrices,
learning curves. Plain functions of arrays, shared by the MLflow tracker and ``search.report``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "confusion_figure",
    "confusion_matrix",
    "confusion_png",
    "learning_curves_figure",
    "learning_curves_png",
    "markdown_table",
    "per_class_rows",
]

#: the Keras log keys drawn by :func:`learning_curves_figure`, by panel
_PANELS = (("loss", ("loss", "val_loss")), ("accuracy", ("accuracy", "val_accuracy")))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class); rows are true classes.

    Args:
        y_true: true class indices, shape ``(n,)``.
        y_pred: predicted class indices, shape ``(n,)``.
        num_classes: the number of classes (the matrix is square).
    """
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return matrix


def per_class_rows(matrix: np.ndarray, class_names: Sequence[str]) -> list[dict[str, float | int | str]]:
    """Precision, recall, F1 and support of each class, as the documents tabulated them.

    A class never predicted has precision 0 (not NaN), like scikit-learn's ``zero_division=0``.
    """
    matrix = np.asarray(matrix)
    rows: list[dict[str, float | int | str]] = []
    for k, name in enumerate(class_names):
        hits = int(matrix[k, k])
        predicted, support = int(matrix[:, k].sum()), int(matrix[k, :].sum())
        precision = hits / predicted if predicted else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            {
                "class": name,
                "precision": round(precision, 4),
                "recall": round(recall, 4),
                "f1": round(f1, 4),
                "support": support,
            }
        )
    return rows


def markdown_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured markdown table of ``rows`` (columns: ``columns`` or the first row's keys)."""
    if not rows:
        return ""
    cols = list(columns or rows[0].keys())

    def cell(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.4f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in cols) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def learning_curves_figure(history: Mapping[str, Sequence[float]], title: str) -> go.Figure:
    """Loss and accuracy per epoch, training against validation, side by side."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=[p for p, _ in _PANELS])
    for col, (_, keys) in enumerate(_PANELS, start=1):
        for key in keys:
            values = list(history.get(key, []))
            if values:
                epochs = list(range(1, len(values) + 1))
                fig.add_trace(go.Scatter(x=epochs, y=values, mode="lines+markers", name=key), row=1, col=col)
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_layout(title=title, height=420)
    return fig


def confusion_figure(matrix: np.ndarray, class_names: Sequence[str], title: str) -> go.Figure:
    """The confusion matrix as an annotated heat map (rows true, columns predicted)."""
    names = list(class_names)
    fig = go.Figure(
        go.Heatmap(
            z=np.asarray(matrix).tolist(),
            x=names,
            y=names,
            colorscale="Blues",
            text=np.asarray(matrix).tolist(),
            texttemplate="%{text}",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis_autorange="reversed",
        height=560,
    )
    return fig


def confusion_png(matrix: np.ndarray, class_names: Sequence[str], path: Path, title: str) -> None:
    """The confusion matrix as a static PNG (matplotlib: no browser needed, unlike kaleido)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 1.0 + 0.6 * n))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), labels=list(class_names), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            colour = "white" if matrix[i, j] > threshold else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def learning_curves_png(history: Mapping[str, Sequence[float]], path: Path, title: str) -> None:
    """:func:`learning_curves_figure` as a static PNG (matplotlib), for stores that show images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, (panel, keys) in zip(axes, _PANELS, strict=True):
        for key in keys:
            values = list(history.get(key, []))
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="o", label=key)
        ax.set_title(panel)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    fig.suptitle(title)
    # fixed margins: tight_layout measured every label again (a third of the figure's cost)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.82, wspace=0.2)
    fig.savefig(path, dpi=90)
    plt.close(fig)
