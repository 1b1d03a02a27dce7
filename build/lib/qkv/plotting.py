"""The book's figure style, and the few figure kinds its chapters repeat.

seaborn and matplotlib do the drawing; this module only fixes the look, so that every chapter's
figures share one visual language with the widgets and the diagrams:

- :data:`PALETTE` is ``palette.json`` (next to this file), which the widgets' JavaScript reads too:
  one colour per recurring actor (query, key, value, output, position, highlight, ...), a series of
  colour-blind-safe line colours, and the colour maps for weights (sequential) and signed values
  (diverging).
- :func:`use_book_style` is the one set-up call a chapter makes: thread count, seed, seaborn theme,
  palette, and figures rendered as SVG sized for the book's text column.
- :func:`table`: a data frame as the book shows it, its index an ordinary named column; :func:`spread`:
  a result over several seeds in words.
- :func:`heatmap` (an attention map or any labelled matrix), :func:`curves` (losses or metrics over
  training steps, one band of spread per label when several seeds are given) and
  :func:`metric_vs_length` (a metric against sequence length, with the training length marked).

Figures are drawn on a light "paper" background in both of the theme's modes: a figure is an image,
whose text cannot follow the page's colours, so it keeps its own (the book's CSS frames it in dark mode).

>>> PALETTE["roles"]["query"], len(PALETTE["series"]) >= 6
('#0072B2', True)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt  # noqa: F401 (the docstring examples draw with it)
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.colors import LinearSegmentedColormap

PALETTE = json.loads((Path(__file__).parent / "palette.json").read_text(encoding="utf-8"))
ROLES = PALETTE["roles"]  # {"query": "#0072B2", "key": ..., "value": ..., ...}

COLUMN_WIDTH = 6.8  # inches: the text column of the book's theme at 1280 px is about 680 px wide
SEQUENTIAL = PALETTE["sequential_name"]  # matplotlib's name for the sequential map (viridis)
DIVERGING = LinearSegmentedColormap.from_list("qkv_diverging", PALETTE["diverging"])
_MAX_VECTOR_CELLS = 2500  # a heatmap with more cells is rasterised inside the SVG (page weight)


def use_book_style(seed=0, threads=1):
    """Set up a chapter: one thread, a fixed seed, and the book's look for every figure that follows.

    One thread keeps every run's numbers identical and is as fast as two for the book's tiny tensors.
    Figures come out as SVG (sharp at any zoom, text kept as text) at the text column's width.

    >>> use_book_style()
    >>> torch.get_num_threads(), mpl.rcParams["svg.fonttype"]
    (1, 'none')
    >>> mpl.colors.to_hex(mpl.rcParams["axes.prop_cycle"].by_key()["color"][0]) == PALETTE["series"][0].lower()
    True
    """
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    sns.set_theme(context="notebook", style="ticks", palette=PALETTE["series"], font_scale=0.9)
    mpl.rcParams.update({
        "figure.figsize": (COLUMN_WIDTH, 3.0),
        "figure.dpi": 100,
        "figure.facecolor": "white",
        "axes.grid": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "image.cmap": SEQUENTIAL,
        "legend.frameon": False,
        "svg.fonttype": "none",  # text stays text in the SVG: sharp and searchable
        "svg.hashsalt": "qkv",  # the same ids in every build
    })
    try:  # in a notebook: SVG rather than PNG
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("svg")
    except ImportError:  # pragma: no cover - outside IPython there is nothing to set
        pass


def _numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def heatmap(ax, matrix, rows=None, cols=None, title=None, signed=False, annot=False, show_shape=False, **kwargs):
    """A labelled heatmap of ``matrix [rows, cols]`` on ``ax``: an attention map by default.

    Args:
        ax: the matplotlib axes.
        matrix: ``[R, C]`` tensor or array.
        rows, cols: tick labels (queries down, keys across for an attention map); None for none.
        title: the axes title; with ``show_shape`` the shape ``[R, C]`` is appended.
        signed: colour signed values with the diverging map centred on 0, instead of weights in [0, 1]
            with the sequential map.
        annot: write each value in its cell (only for small matrices a reader can read).
        **kwargs: passed to :func:`seaborn.heatmap` (``vmin``, ``vmax``, ``cbar``, ...).

    >>> fig, ax = plt.subplots()
    >>> ax = heatmap(ax, torch.eye(3), rows=list("abc"), cols=list("abc"), title="weights", show_shape=True)
    >>> ax.get_title(), [t.get_text() for t in ax.get_xticklabels()]
    ('weights  [3, 3]', ['a', 'b', 'c'])
    >>> plt.close(fig)
    """
    values = _numpy(matrix)
    if signed:
        largest = float(np.nanmax(np.abs(values))) if values.size else 0.0
        largest = largest if largest > 0 else 1.0
        style = {"cmap": DIVERGING, "vmin": -largest, "vmax": largest}  # symmetric: 0 at the centre
    else:
        style = {"cmap": SEQUENTIAL, "vmin": 0.0, "vmax": 1.0}
    style |= {"cbar": False, "annot": annot, "fmt": ".2f", "annot_kws": {"fontsize": 8}}
    style |= {"rasterized": values.size > _MAX_VECTOR_CELLS}
    sns.heatmap(values, ax=ax, xticklabels=cols if cols is not None else False,
                yticklabels=rows if rows is not None else False, **(style | kwargs))
    label = title or ""
    if show_shape:
        label = f"{label}  {list(values.shape)}".strip()
    ax.set_title(label, fontsize=10)
    ax.tick_params(labelsize=8, length=0)
    return ax


def _label_color(index, label, colors):
    if colors and label in colors:
        color = colors[label]
        return ROLES.get(color, color)
    return PALETTE["series"][index % len(PALETTE["series"])]


def _draw_runs(ax, x, runs, label, color, band_label):
    """One line, the mean over seeds, and a band from the smallest to the largest run when there are several."""
    runs = np.atleast_2d(_numpy(runs))  # [seeds, points]
    mean = runs.mean(axis=0)
    n = runs.shape[0]
    ax.plot(x, mean, color=color, label=label if n == 1 or not band_label else f"{label} ({n} seeds)")
    if n > 1:
        ax.fill_between(x, runs.min(axis=0), runs.max(axis=0), color=color, alpha=0.2, linewidth=0)
    return mean


def curves(ax, runs, xlabel="step", ylabel="loss", log=False, colors=None, title=None):
    """Training curves: one line per label, the mean over seeds with the min-max band of the seeds.

    Args:
        ax: the matplotlib axes.
        runs: ``{label: values}`` where values is one run ``[steps]`` or several ``[seeds, steps]``.
        xlabel, ylabel, title: axis labels and title. log: a logarithmic y axis.
        colors: optional ``{label: colour or palette role}``; otherwise the palette's series in order.

    Returns:
        ``{label: mean curve}`` as numpy arrays.

    >>> fig, ax = plt.subplots()
    >>> means = curves(ax, {"one head": [[3.0, 2.0, 1.0], [3.0, 1.0, 1.0]]}, colors={"one head": "query"})
    >>> means["one head"].tolist(), ax.get_legend_handles_labels()[1]
    ([3.0, 1.5, 1.0], ['one head (2 seeds)'])
    >>> plt.close(fig)
    """
    if not isinstance(runs, Mapping) or not runs:
        raise TypeError(f"runs: expected a non-empty dict {{label: values}}, got {type(runs).__name__}")
    means = {}
    for index, (label, values) in enumerate(runs.items()):
        values = np.atleast_2d(_numpy(values))
        x = np.arange(1, values.shape[1] + 1)
        means[label] = _draw_runs(ax, x, values, label, _label_color(index, label, colors), band_label=True)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or "")
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    return means


def metric_vs_length(ax, lengths, runs, train_length=None, ylabel="accuracy", colors=None, title=None):
    """A metric against sequence length, one line per label (mean over seeds, min-max band), the
    training length marked by a dashed line.

    Args:
        ax: the matplotlib axes.
        lengths: ``[points]`` the sequence lengths evaluated.
        runs: ``{label: values}``, values ``[points]`` or ``[seeds, points]``.
        train_length: the longest length seen in training, or None.
        ylabel, title: labels. colors: as in :func:`curves`.

    >>> fig, ax = plt.subplots()
    >>> means = metric_vs_length(ax, [8, 16, 32], {"RoPE": [[1.0, 0.5, 0.25], [1.0, 0.7, 0.25]]}, train_length=8)
    >>> means["RoPE"].round(2).tolist(), ax.get_xlabel()
    ([1.0, 0.6, 0.25], 'sequence length')
    >>> plt.close(fig)
    """
    if not isinstance(lengths, Sequence | np.ndarray | torch.Tensor):
        raise TypeError(f"lengths: expected a sequence of lengths, got {type(lengths).__name__}")
    x = _numpy(lengths)
    means = {}
    for index, (label, values) in enumerate(runs.items()):
        values = np.atleast_2d(_numpy(values))
        if values.shape[1] != len(x):
            raise ValueError(f"runs[{label!r}]: expected {len(x)} values per run (one per length), "
                             f"got shape {values.shape}")
        means[label] = _draw_runs(ax, x, values, label, _label_color(index, label, colors), band_label=True)
    if train_length is not None:
        ax.axvline(train_length, color=ROLES["neutral"], linestyle="--", linewidth=1)
        ax.annotate("training length", (train_length, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(4, -12), textcoords="offset points", fontsize=8, color=ROLES["neutral"])
    ax.set(xlabel="sequence length", ylabel=ylabel, title=title or "")
    ax.legend(fontsize=8)
    return means


def table(frame, formatter="{:.3f}"):
    """A data frame (or series) as the book shows it: the index becomes an ordinary, named first column.

    pandas draws a named index as a second header row with an empty corner cell, which screen readers
    announce as an unnamed column; here every column has a header. Numbers are shown with
    ``formatter`` (a format string or a callable, as :meth:`pandas.io.formats.style.Styler.format`
    takes); integers are shown as they are.

    >>> frame = pd.DataFrame({"variance": [1.0, 4.0]}, index=pd.Index([1, 4], name="d_k"))
    >>> styled = table(frame)
    >>> list(styled.data.columns), "<th" in styled.to_html() and "blank" not in styled.to_html()
    (['d_k', 'variance'], True)
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame: expected a pandas DataFrame or Series, got {type(frame).__name__}")
    if isinstance(frame.columns, pd.MultiIndex):  # e.g. .agg(["mean", "min", "max"]): "test MSE mean"
        frame = frame.set_axis([" ".join(map(str, c)).strip() for c in frame.columns], axis=1)
    if frame.index.name is not None or not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    ints = [c for c in frame.columns if pd.api.types.is_integer_dtype(frame[c])]
    return frame.style.hide(axis="index").format(formatter, subset=floats).format("{:,}", subset=ints)


def spread(values, fmt="{:.0%}"):
    """A result over several seeds in words: ``"100% with every seed"``, or ``"97% to 100%"``.

    A range whose ends are equal reads as nonsense ("between 33% and 33%"), so equal ends (as printed
    with ``fmt``) collapse to one number.

    >>> spread([1.0, 1.0, 1.0]), spread([0.97, 1.0]), spread([2.5, 3.25], "{:.2f}")
    ('100% with every seed', '97% to 100%', '2.50 to 3.25')
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values: expected at least one value, got none")
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return f"{low} with every seed" if low == high else f"{low} to {high}"
