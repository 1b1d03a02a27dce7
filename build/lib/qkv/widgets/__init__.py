"""Widgets for the book that respond in a live kernel and in the static HTML book with no kernel.

Each widget is an anywidget: Python computes the data once and the JavaScript front end (a ``.js``
file next to its module, shipped after the helpers they all share, shared.js) draws it and reacts to
its own controls, so the saved page works offline.

SoftmaxSaturation   softmax of q.k over random keys for d_k from 1 to 1024, scaled or not
AttentionMap        heatmap and BertViz-like lines of attention weights [layers, heads, q, k]
PositionalExplorer  sinusoidal, RoPE, ALiBi (and learned) positions: table, vector, similarity
MaskPlayground      padding and causal masks, fill values and dtypes, and where they break
NormStatistics      which elements share statistics under LayerNorm and under BatchNorm
AttentionStepThrough  attention on a tiny sentence, step by step: project, score, scale, softmax, mix

Needs the ``widgets`` extra: ``pip install "qkv[widgets]"`` (anywidget and ipywidgets).
"""

from qkv.widgets.attention_map import AttentionMap
from qkv.widgets.masks import MaskPlayground
from qkv.widgets.norms import NormStatistics
from qkv.widgets.positional import PositionalExplorer
from qkv.widgets.softmax import D_K_CHOICES, SoftmaxSaturation
from qkv.widgets.stepthrough import AttentionStepThrough

__all__ = [
    "D_K_CHOICES",
    "AttentionMap",
    "AttentionStepThrough",
    "MaskPlayground",
    "NormStatistics",
    "PositionalExplorer",
    "SoftmaxSaturation",
]
