"""PNG figures for evaluation reports, rendered with matplotlib's Agg canvas.

matplotlib is imported inside each function (it is a `report`/`train` extra and
slow to import), and figures are drawn on a standalone ``Figure`` with an Agg
canvas, so no global pyplot state or interactive backend is touched. Every
function returns the PNG bytes.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DPI = 110


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1, **kwargs: Any):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def _png(fig) -> bytes:
    buf = io.BytesIO()
    # No "Software" chunk: the same figure gives the same bytes across matplotlib versions.
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def confusion_figure(cm: Sequence[Sequence[int]], labels: Sequence[str], normalise: bool = False) -> bytes:
    """Confusion matrix heat map; ``normalise`` divides each row by its support.

    Rows without support (a class absent from the test set) are left blank
    and marked "absent" instead of showing a division by zero.

    >>> png = confusion_figure([[3, 1], [0, 2]], ["happy", "sad"])
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    counts = np.asarray(cm, dtype=np.float64)
    n = len(labels)
    size = max(3.6, 0.55 * n + 2.2)
    fig, axes = _figure(size, size * 0.88)
    ax = axes[0, 0]
    support = counts.sum(axis=1) if counts.size else np.zeros(n)
    if normalise:
        with np.errstate(divide="ignore", invalid="ignore"):
            shown = np.where(support[:, None] > 0, counts / np.maximum(support[:, None], 1), np.nan)
        vmax = 1.0
    else:
        shown = counts if counts.size else np.zeros((n, n))
        vmax = max(1.0, float(np.nanmax(shown)) if shown.size else 1.0)
    masked = np.ma.masked_invalid(shown)
    image = ax.imshow(masked, cmap="Blues", vmin=0.0, vmax=vmax)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    for i in range(n):
        for j in range(n):
            value = shown[i, j] if shown.size else np.nan
            if not np.isfinite(value):
                if j == 0:
                    ax.text(j, i, "absent", ha="left", va="center", fontsize=7, color="#a33")
                continue
            text = f"{value:.2f}" if normalise else f"{int(value)}"
            color = "white" if value > 0.6 * vmax else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7 if n > 7 else 8, color=color)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix, row-normalised (recall)" if normalise else "confusion matrix, counts")
    return _png(fig)


def per_class_figure(per_class: Mapping[str, Mapping[str, Any]], labels: Sequence[str]) -> bytes:
    """Grouped bars of precision, recall and F1 per class; undefined scores are marked n/a."""
    n = len(labels)
    fig, axes = _figure(max(5.0, 0.75 * n + 2.0), 3.6)
    ax = axes[0, 0]
    width = 0.26
    x = np.arange(n)
    for k, (key, color) in enumerate((("precision", "#4c72b0"), ("recall", "#dd8452"), ("f1", "#55a868"))):
        values = [per_class.get(name, {}).get(key) for name in labels]
        heights = [v if v is not None else 0.0 for v in values]
        ax.bar(x + (k - 1) * width, heights, width, label=key, color=color)
        for xi, v in zip(x, values):
            if v is None:
                ax.text(xi + (k - 1) * width, 0.02, "n/a", rotation=90, ha="center", va="bottom", fontsize=6)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title("per-class precision, recall and F1")
    ax.legend(loc="lower right", fontsize=8, ncols=3)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def curves_figure(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> bytes:
    """Loss and accuracy per epoch, train and validation, one line style per run/fold."""
    fig, axes = _figure(9.0, 3.6, ncols=2)
    many = len(histories) > 1
    for rows in histories.values():
        epochs = [r.get("epoch", i + 1) for i, r in enumerate(rows)]
        for ax, metric in ((axes[0, 0], "loss"), (axes[0, 1], "acc")):
            for split, style, color in (("train", "-", "#4c72b0"), ("val", "--", "#dd8452")):
                key = f"{split}_{metric}"
                pts = [(e, r.get(key)) for e, r in zip(epochs, rows) if _finite(r.get(key))]
                if not pts:
                    continue
                label = f"{split}" if not many else None
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=color,
                        alpha=0.45 if many else 1.0, lw=1.0 if many else 1.6, label=label)
    from matplotlib.ticker import MaxNLocator

    for ax, title in ((axes[0, 0], "loss"), (axes[0, 1], "accuracy")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title + (" (solid: train, dashed: validation; one line per fold)" if many else ""),
                     fontsize=9)
        ax.grid(alpha=0.3)
        if not many and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return _png(fig)


def reliability_figure(rel: Mapping[str, Any]) -> bytes:
    """Reliability diagram (accuracy against confidence per bin) with a count histogram."""
    fig, axes = _figure(4.6, 5.0, nrows=2, height_ratios=[3, 1], sharex=True)
    top, bottom = axes[0, 0], axes[1, 0]
    bins = rel.get("bins", [])
    filled = [b for b in bins if b["count"] and b["accuracy"] is not None]  # empty bins have no bar
    centres = [(b["low"] + b["high"]) / 2 for b in filled]
    widths = [b["high"] - b["low"] for b in filled]
    acc = [b["accuracy"] for b in filled]
    conf = [b["confidence"] for b in filled]
    top.bar(centres, acc, widths, edgecolor="#333", color="#4c72b0", alpha=0.8, label="accuracy")
    top.bar(centres, np.asarray(conf) - np.asarray(acc), widths, bottom=acc, edgecolor="#a33",
            color="#e88", alpha=0.35, label="gap to confidence")
    top.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    ece = rel.get("ece")
    top.set_title("reliability diagram, ECE = " + ("n/a" if ece is None else f"{100 * ece:.2f}%"))
    top.legend(fontsize=7, loc="upper left")
    bottom.bar(centres, [b["count"] for b in filled], widths, color="#888", edgecolor="#333")
    bottom.set_xlabel("confidence (top probability)")
    bottom.set_ylabel("count")
    bottom.set_xlim(0, 1)
    return _png(fig)


def group_figure(groups: Sequence[Mapping[str, Any]], kind: str = "group") -> bytes:
    """Accuracy per subject/speaker: labelled horizontal bars, or sorted bars when there are many."""
    n = len(groups)
    if n > 40:
        return _group_figure_sorted(groups, kind)
    fig, axes = _figure(6.0, max(2.4, 0.22 * n + 1.2))
    ax = axes[0, 0]
    names = [str(g["group"]) for g in groups]
    acc = [g["accuracy"] if g["accuracy"] is not None else 0.0 for g in groups]
    y = np.arange(n)
    ax.barh(y, acc, color="#55a868")
    for yi, g in zip(y, groups):
        ax.text(min(1.0, (g["accuracy"] or 0.0)) + 0.01, yi, f"n={g['n']}", va="center", fontsize=6)
    mean = float(np.mean(acc)) if acc else 0.0
    ax.axvline(mean, color="#333", ls="--", lw=1, label=f"mean over {kind}s {100 * mean:.1f}%")
    ax.set_yticks(y, names, fontsize=7 if n > 20 else 8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("accuracy")
    ax.set_title(f"accuracy per {kind}")
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def _group_figure_sorted(groups: Sequence[Mapping[str, Any]], kind: str) -> bytes:
    """Many groups: one bar per group sorted by accuracy, so the spread and the weak tail show."""
    ordered = sorted(groups, key=lambda g: (g["accuracy"] if g["accuracy"] is not None else -1.0, str(g["group"])))
    acc = [g["accuracy"] if g["accuracy"] is not None else 0.0 for g in ordered]
    fig, axes = _figure(8.0, 3.4)
    ax = axes[0, 0]
    ax.bar(np.arange(len(acc)), acc, width=0.85, color="#55a868")
    mean = float(np.mean(acc)) if acc else 0.0
    ax.axhline(mean, color="#333", ls="--", lw=1, label=f"mean over {kind}s {100 * mean:.1f}%")
    for i, g in enumerate(ordered[:5]):  # name the weakest few; the table lists all
        ax.text(i, acc[i] + 0.02, str(g["group"]), rotation=90, ha="center", va="bottom", fontsize=6)
    ax.set_xticks([])
    ax.set_xlabel(f"{len(acc)} {kind}s, sorted by accuracy")
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"accuracy per {kind}")
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def folds_figure(folds: Sequence[Mapping[str, Any]]) -> bytes:
    """Accuracy, balanced accuracy and macro-F1 per fold."""
    n = len(folds)
    fig, axes = _figure(max(5.0, 0.5 * n + 2.5), 3.4)
    ax = axes[0, 0]
    x = np.arange(n)
    width = 0.26
    for k, (key, color) in enumerate(
        (("accuracy", "#4c72b0"), ("balanced_accuracy", "#dd8452"), ("macro_f1", "#55a868"))
    ):
        values = [f.get(key) if _finite(f.get(key)) else 0.0 for f in folds]
        ax.bar(x + (k - 1) * width, values, width, label=key.replace("_", " "), color=color)
    ax.set_xticks(x, [str(i + 1) for i in range(n)])
    ax.set_xlabel("fold")
    ax.set_ylim(0, 1.05)
    ax.set_title("scores per fold")
    ax.legend(fontsize=7, loc="lower right", ncols=3)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
