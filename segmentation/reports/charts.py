"""Charts of a snapshot as PNG bytes, drawn with matplotlib's Agg renderer (no display needed).

Figures are built with ``matplotlib.figure.Figure`` and an Agg canvas rather than ``pyplot``, so
no global state is shared between runs and no GUI backend is ever selected.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from segmentation.segments.rfm import RFM_SEGMENT_LABELS, SCORES, load_rfm_grid

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BAR_COLOUR = "#4c72b0"


def _new_figure(**kwargs: Any) -> Figure:
    # matplotlib is imported when a chart is drawn, not when the definitions load: most runs and
    # every code-location load draw none, and the import is a large part of a process start
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    # no Software/date entries: the same data gives the same bytes
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _placeholder(title: str, message: str) -> bytes:
    figure = _new_figure(figsize=(7, 2.5))
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.set_title(title)
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="#555555")
    return _png(figure)


def _ordered(counts: Mapping[str, int], order: Sequence[str]) -> list[tuple[str, int]]:
    known = [(label, counts[label]) for label in order if label in counts]
    extra = sorted((label, n) for label, n in counts.items() if label not in order)
    return known + extra


def _bars(axes, items: list[tuple[str, int]], title: str) -> None:
    labels = [label for label, _ in items][::-1]
    values = [value for _, value in items][::-1]
    bars = axes.barh(labels, values, color=_BAR_COLOUR)
    axes.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3, fontsize=8)
    axes.set_title(title, fontsize=11)
    axes.set_xlabel("customers")
    axes.margins(x=0.18)
    axes.spines[["top", "right"]].set_visible(False)


def segment_sizes_png(
    rfm_counts: Mapping[str, int],
    lifecycle_counts: Mapping[str, int],
    snapshot: date,
    lifecycle_order: Sequence[str] = (),
) -> bytes:
    """Two bar charts of one snapshot: customers per RFM segment and per lifecycle stage."""
    figure = _new_figure(figsize=(11, 4.8), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=[1.2, 1])
    _bars(left, _ordered(rfm_counts, RFM_SEGMENT_LABELS), "RFM segment")
    _bars(right, _ordered(lifecycle_counts, lifecycle_order), "Lifecycle stage")
    figure.suptitle(f"Segment sizes, snapshot {snapshot}", fontsize=13)
    return _png(figure)


def rfm_grid_png(cells: pl.DataFrame, snapshot: date) -> bytes:
    """Heatmap of customers on the R x FM grid; each cell names its RFM segment.

    Args:
        cells: Columns ``r_score``, ``fm_score`` and ``customers`` (buyers of one snapshot).
        snapshot: The snapshot date, for the title.
    """
    grid = load_rfm_grid()
    rows = list(reversed(SCORES))  # R = 5 (most recent) on top
    counts = np.zeros((len(rows), len(SCORES)), dtype=np.int64)
    for r_score, fm, customers in cells.select("r_score", "fm_score", "customers").iter_rows():
        counts[rows.index(r_score), SCORES.index(fm)] += customers
    figure = _new_figure(figsize=(8.5, 6.2), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues", aspect="auto")
    threshold = counts.max() / 2 if counts.max() else 1
    for i, r_score in enumerate(rows):
        for j, fm in enumerate(SCORES):
            colour = "white" if counts[i, j] > threshold else "#222222"
            axes.text(
                j,
                i - 0.12,
                f"{counts[i, j]:,}",
                ha="center",
                va="center",
                fontsize=11,
                fontweight="bold",
                color=colour,
            )
            axes.text(
                j, i + 0.22, grid[(r_score, fm)], ha="center", va="center", fontsize=7, color=colour
            )
    axes.set_xticks(range(len(SCORES)), [str(s) for s in SCORES])
    axes.set_yticks(range(len(rows)), [str(r) for r in rows])
    axes.set_xlabel("FM score (average of frequency and monetary, rounded half up)")
    axes.set_ylabel("R score (5 = most recent)")
    axes.set_title(f"RFM grid: customers per cell, snapshot {snapshot}")
    figure.colorbar(image, ax=axes, label="customers")
    return _png(figure)


def migration_png(migration: pl.DataFrame, dimension: str = "rfm_segment") -> bytes:
    """Heatmap of customers moving between segments of one dimension for one snapshot pair.

    Colours are the share of each row (where the customers of a segment went); the numbers are
    customers.

    Args:
        migration: Rows of ``marts.segment_migration`` for one snapshot pair and dimension.
        dimension: The dimension, for the title.
    """
    title = f"Segment migration ({dimension})"
    if migration.is_empty():
        return _placeholder(title, "no pair of consecutive snapshots yet")
    from_snapshot = migration.get_column("from_snapshot").min()
    to_snapshot = migration.get_column("to_snapshot").max()
    present = set(migration.get_column("from_segment")) | set(migration.get_column("to_segment"))
    order = [label for label in RFM_SEGMENT_LABELS if label in present]
    order += sorted(present - set(order))
    index = {label: i for i, label in enumerate(order)}
    counts = np.zeros((len(order), len(order)), dtype=np.int64)
    for source, target, customers in migration.select(
        "from_segment", "to_segment", "customers"
    ).iter_rows():
        counts[index[source], index[target]] += customers
    row_totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, row_totals, out=np.zeros(counts.shape), where=row_totals > 0)
    size = max(6.0, 0.62 * len(order) + 3)
    figure = _new_figure(figsize=(size + 1.5, size), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Purples", vmin=0, vmax=1, aspect="auto")
    for i in range(len(order)):
        for j in range(len(order)):
            if counts[i, j]:
                colour = "white" if shares[i, j] > 0.5 else "#222222"
                axes.text(
                    j, i, f"{counts[i, j]:,}", ha="center", va="center", fontsize=8, color=colour
                )
    axes.set_xticks(range(len(order)), order, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(order)), order, fontsize=8)
    axes.set_xlabel(f"segment at {to_snapshot}")
    axes.set_ylabel(f"segment at {from_snapshot}")
    axes.set_title(f"{title}, {from_snapshot} → {to_snapshot}")
    figure.colorbar(image, ax=axes, label="share of the row's customers")
    return _png(figure)


def clv_histogram_png(clv: pl.Series, snapshot: date) -> bytes:
    """Histogram of the predicted 12-month CLV on a log scale (customers with CLV > 0).

    Customers with a CLV of 0 or none cannot be placed on a log axis; their number is in the
    title.
    """
    values = clv.drop_nulls().to_numpy()
    positive = values[values > 0]
    left_out = clv.len() - positive.size
    title = f"12-month CLV per customer, snapshot {snapshot}"
    if positive.size == 0:
        return _placeholder(title, "no customer with a positive CLV")
    low, high = float(positive.min()), float(positive.max())
    bins = np.geomspace(low, high * 1.0001, 40) if high > low else np.array([low * 0.9, low * 1.1])
    figure = _new_figure(figsize=(9, 4.5), layout="constrained")
    axes = figure.add_subplot()
    axes.hist(positive, bins=bins, color=_BAR_COLOUR, edgecolor="white", linewidth=0.4)
    axes.set_xscale("log")
    axes.set_xlabel("clv_12m (log scale)")
    axes.set_ylabel("customers")
    median = float(np.median(positive))
    axes.axvline(median, color="#dd8452", linestyle="--", linewidth=1.2)
    axes.text(
        median,
        axes.get_ylim()[1] * 0.95,
        f" median {median:,.0f}",
        color="#dd8452",
        va="top",
        fontsize=9,
    )
    axes.set_title(
        f"{title}\n{positive.size:,} customers shown; {left_out:,} with CLV 0 or unknown left out",
        fontsize=11,
    )
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)
