"""A step-through of scaled dot-product attention on a tiny sentence: project, score, scale, softmax, mix.

Python computes every matrix once, with :func:`qkv.attention.scaled_dot_product_attention`, and ships
them to the browser as 16-bit integers; the front end (``stepthrough.js``) only reveals them, one
step at a time, so the figure works in the static book as in a kernel.
"""

from __future__ import annotations

import json
import math

import torch
import traitlets

from qkv.attention import scaled_dot_product_attention
from qkv.checks import check_int
from qkv.widgets._common import (
    CSS,
    HERE,
    QKVWidget,
    from_int16_bytes,
    front_end,
    int16_bytes,
    shipped,
    to_numpy,
    unit_scale,
)

# The steps, in order: what the reader moves through.
STEPS = ("inputs", "project", "score", "scale", "softmax", "mix")

# The chapter's sentence, small enough to check by hand: 4 tokens, d_model = 4, d_k = 2, d_v = 3.
# (book/_ext/qkv_diagrams/figures.py draws "one token's view" from the same numbers.)
EXAMPLE = {
    "tokens": ("the", "cat", "sat", "down"),
    "X": [[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 1.0], [1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 2.0, 1.0]],
    "W_Q": [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]],
    "W_K": [[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
    "W_V": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 1.0]],
}

ROLES = json.loads((HERE.parent / "palette.json").read_text(encoding="utf-8"))["roles"]

# This widget's own styles, after the shared ones (kept here so that widgets.css stays untouched).
STEP_CSS = """
.qkv-stepthrough .qkv-controls button { font: inherit; padding: 0.2rem 0.7rem; border: 1px solid currentColor;
  border-radius: 4px; background: transparent; color: inherit; cursor: pointer; }
.qkv-stepthrough .qkv-controls button:disabled { opacity: 0.45; cursor: default; }
.qkv-steps-grid { display: flex; flex-wrap: wrap; gap: 0.5rem 0.9rem; align-items: flex-start; }
.qkv-widget .qkv-step-panel { padding-top: 0.1rem; transition: opacity 0.2s; }
.qkv-widget .qkv-step-panel h3 { margin: 0.25rem 0; font-size: 0.9em; color: inherit; }
.qkv-widget .qkv-step-panel .qkv-shape { font-weight: normal; opacity: 0.85; }
.qkv-widget .qkv-step-panel[data-state="pending"] td { opacity: 0.6; }
.qkv-widget .qkv-step-panel[data-state="current"] table { outline: 2px solid #D55E00; outline-offset: 1px; }
.qkv-widget .qkv-step-panel td { font-variant-numeric: tabular-nums; min-width: 3.2em; }
"""

# The matrices shipped, in the order the front end lays them out.
MATRICES = ("X", "W_Q", "W_K", "W_V", "Q", "K", "V", "scores", "scaled", "weights", "output")


def attention_steps(X, W_Q, W_K, W_V):
    """Every intermediate matrix of ``softmax(Q K^T / sqrt(d_k)) V`` for ``Q, K, V = X W_Q, X W_K, X W_V``.

    The weights and output come from :func:`qkv.attention.scaled_dot_product_attention`.

    >>> m = attention_steps(torch.tensor(EXAMPLE["X"]), *(torch.tensor(EXAMPLE[w]) for w in ("W_Q", "W_K", "W_V")))
    >>> m["weights"][1].round(decimals=2)   # "cat" looks mostly at "sat"
    tensor([0.0900, 0.0900, 0.7400, 0.0900], dtype=torch.float64)
    """
    X, W_Q, W_K, W_V = (
        torch.as_tensor(to_numpy(a, n)) for a, n in ((X, "X"), (W_Q, "W_Q"), (W_K, "W_K"), (W_V, "W_V"))
    )
    for name, W in (("W_Q", W_Q), ("W_K", W_K), ("W_V", W_V)):
        if W.ndim != 2 or W.shape[0] != X.shape[-1]:
            raise ValueError(f"{name}: expected [d_model={X.shape[-1]}, d], got {list(W.shape)}")
    if X.ndim != 2:
        raise ValueError(f"X: expected [n, d_model], got {list(X.shape)}")
    if W_Q.shape[1] != W_K.shape[1]:
        raise ValueError(f"W_Q and W_K: expected the same d_k, got {W_Q.shape[1]} and {W_K.shape[1]}")
    Q, K, V = X @ W_Q, X @ W_K, X @ W_V
    scores = Q @ K.T
    output, weights = scaled_dot_product_attention(Q, K, V)
    return {
        "X": X,
        "W_Q": W_Q,
        "W_K": W_K,
        "W_V": W_V,
        "Q": Q,
        "K": K,
        "V": V,
        "scores": scores,
        "scaled": scores / math.sqrt(Q.shape[-1]),
        "weights": weights,
        "output": output,
    }


class AttentionStepThrough(QKVWidget):
    """Attention on a few tokens, one step at a time: "previous"/"next" buttons and a step slider.

    Args:
        tokens: the words, one per row of ``X``. X: ``[n, d_model]``. W_Q, W_K: ``[d_model, d_k]``.
            W_V: ``[d_model, d_v]``. step: where to start, 0 (the inputs) to 5 (the output).
            Defaults: :data:`EXAMPLE` ("the cat sat down").

    ``matrices()`` is what the browser decodes and shows; it equals :func:`attention_steps` to
    within the 16-bit rounding (a relative 1/32767 of each matrix's largest entry).

    >>> w = AttentionStepThrough()
    >>> w.step_names[w.step], w.n, w.d_k
    ('inputs', 4, 2)
    >>> w.matrices()["output"][1].round(2)
    array([1.74, 0.91, 1.18])
    """

    _esm = front_end("stepthrough")
    _css = shipped(CSS.read_text(encoding="utf-8")) + STEP_CSS

    tokens = traitlets.List(traitlets.Unicode()).tag(sync=True)
    step_names = traitlets.List(traitlets.Unicode(), default_value=list(STEPS)).tag(sync=True)
    step = traitlets.Int(0).tag(sync=True)
    n = traitlets.Int().tag(sync=True)
    d_model = traitlets.Int().tag(sync=True)
    d_k = traitlets.Int().tag(sync=True)
    d_v = traitlets.Int().tag(sync=True)
    colours = traitlets.Dict(default_value=ROLES).tag(sync=True)  # the palette's roles
    scales = traitlets.Dict().tag(sync=True)  # {matrix: scale}, value = int16 / scale
    data = traitlets.Dict().tag(sync=True)  # {matrix: bytes}, row-major int16

    def __init__(self, tokens=None, X=None, W_Q=None, W_K=None, W_V=None, step=0, **kwargs):
        given = [a is None for a in (X, W_Q, W_K, W_V)]
        if any(given) and not all(given):
            raise ValueError("X, W_Q, W_K, W_V: give all four or none (then the example sentence is used)")
        if all(given):
            X, W_Q, W_K, W_V = (EXAMPLE[k] for k in ("X", "W_Q", "W_K", "W_V"))
            tokens = EXAMPLE["tokens"] if tokens is None else tokens
        m = attention_steps(X, W_Q, W_K, W_V)
        n = m["X"].shape[0]
        tokens = [str(t) for t in (tokens if tokens is not None else range(1, n + 1))]
        if len(tokens) != n:
            raise ValueError(f"tokens: expected {n} (one per row of X), got {len(tokens)}")
        if n > 8 or max(m["X"].shape[1], m["Q"].shape[1], m["V"].shape[1]) > 8:
            raise ValueError("a step-through is for tiny sizes: at most 8 tokens and 8 dimensions")
        scales = {k: unit_scale(v) for k, v in m.items()}
        super().__init__(
            tokens=tokens,
            n=n,
            d_model=m["X"].shape[1],
            d_k=m["Q"].shape[1],
            d_v=m["V"].shape[1],
            scales=scales,
            data={k: int16_bytes(v, scales[k], k) for k, v in m.items()},
            step=check_int("step", step, 0, len(STEPS) - 1),
            **kwargs,
        )

    @traitlets.validate("step")
    def _valid_step(self, proposal):
        if not 0 <= proposal["value"] < len(self.step_names):
            raise traitlets.TraitError(f"step: expected 0 to {len(self.step_names) - 1}, got {proposal['value']}")
        return proposal["value"]

    @property
    def payload_bytes(self):
        """Bytes of matrix data this widget saves into a page, before base64.

        >>> AttentionStepThrough().payload_bytes
        264
        """
        return sum(len(b) for b in self.data.values())

    def matrices(self):
        """The matrices as the front end decodes them: {name: float64 array of its shape}."""
        shapes = {
            "X": (self.n, self.d_model),
            "W_Q": (self.d_model, self.d_k),
            "W_K": (self.d_model, self.d_k),
            "W_V": (self.d_model, self.d_v),
            "Q": (self.n, self.d_k),
            "K": (self.n, self.d_k),
            "V": (self.n, self.d_v),
            "scores": (self.n, self.n),
            "scaled": (self.n, self.n),
            "weights": (self.n, self.n),
            "output": (self.n, self.d_v),
        }
        return {k: from_int16_bytes(self.data[k], self.scales[k]).reshape(shapes[k]) for k in MATRICES}
