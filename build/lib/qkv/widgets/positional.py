"""Widget 3: positional-encoding explorer: sinusoidal, RoPE, ALiBi, and a learned table when given one.

Pick a method, ``d_model`` and a position; see the whole table (position x dimension), the chosen
position's vector, and the cosine similarity between the chosen position and every other one as a
function of their offset. For ALiBi, which adds a bias to the scores instead of a vector to the
embeddings, the three panels show the bias from the chosen position for every head, the slopes,
and the bias as a function of the offset.

Every table comes from :mod:`qkv.positional` and goes to the browser once (16-bit integers).
"""

from __future__ import annotations

import numpy as np
import torch
import traitlets
from torch import nn

from qkv import checks
from qkv.positional import RotaryEmbedding, alibi_bias, alibi_slopes, sinusoidal_encoding
from qkv.widgets._common import QKVWidget, from_int16_bytes, front_end, int16_bytes, to_numpy, unit_scale

METHODS = ("sinusoidal", "rope", "alibi", "learned")


def rope_table(max_len, d_model, seed=0, base=10000.0):
    """``R_m q`` for ``m = 0..max_len-1``: one random unit vector ``q [d_model]`` rotated by RoPE.

    Returns ``[max_len, d_model]``. Its rows' dot products depend only on the offset between
    positions: ``<R_m q, R_n q> = <q, R_(n-m) q>``.

    >>> t = rope_table(8, 4)
    >>> t.shape, torch.allclose(t.norm(dim=1), torch.ones(8, dtype=t.dtype))
    (torch.Size([8, 4]), True)
    """
    q = torch.randn(d_model, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    q = q / q.norm()
    return RotaryEmbedding(d_model, base=base).rotate(q.expand(max_len, d_model).clone())


def _learned_table(learned):
    if isinstance(learned, nn.Embedding):
        learned = learned.weight
    elif isinstance(learned, nn.Module) and isinstance(getattr(learned, "embedding", None), nn.Embedding):
        learned = learned.embedding.weight  # qkv.positional.LearnedPositionalEmbedding
    table = to_numpy(learned, "learned")
    if table.ndim != 2 or 0 in table.shape:
        raise ValueError(f"learned: expected a table [positions, d_model], got shape {table.shape}")
    if not np.isfinite(table).all():
        raise ValueError("learned: expected finite values, got NaN or infinity")
    return table


def positional_payload(max_len=64, d_models=(8, 16, 32, 64), learned=None, learned_title="learned",
                       alibi_heads=8, seed=0):
    """``(methods, data)``: a description of each method's blocks and their int16 bytes.

    Each block is a table ``[rows, columns]`` stored at ``offset`` (counted in values) with its own
    ``scale`` (value = integer / scale): ``[max_len, d_model]`` per ``d_model`` for the tables, and
    ``[heads, max_len]`` (the bias at distances ``0..max_len-1``) for ALiBi.

    >>> methods, data = positional_payload(max_len=4, d_models=(2, 4))
    >>> [m["name"] for m in methods], [b["d_model"] for b in methods[0]["blocks"]], len(data)
    (['sinusoidal', 'rope', 'alibi'], [2, 4], 160)
    """
    checks.check_int("max_len", max_len, 2, 512)
    checks.check_int("alibi_heads", alibi_heads, 1, 64)
    if isinstance(d_models, int) or not d_models:
        raise ValueError(f"d_models: expected a non-empty list of even sizes, got {d_models!r}")
    for d in d_models:
        checks.check_int("d_models[i]", d, 2, 1024)
        if d % 2:
            raise ValueError(f"d_models: every size must be even (sine/cosine pairs), got {d}")
    chunks, offset = [], 0

    def block(table, **info):
        nonlocal offset
        table = to_numpy(table, "table")
        scale = unit_scale(table)
        chunks.append(int16_bytes(table, scale))
        entry = {"rows": table.shape[0], "columns": table.shape[1], "offset": offset, "scale": scale, **info}
        offset += table.size
        return entry

    sizes = sorted(set(d_models))
    methods = [
        {"name": "sinusoidal", "title": "sinusoidal (added to the embeddings)",
         "blocks": [block(sinusoidal_encoding(max_len, d, dtype=torch.float64), d_model=d) for d in sizes]},
        {"name": "rope", "title": "RoPE (rotates queries and keys)",
         "blocks": [block(rope_table(max_len, d, seed), d_model=d) for d in sizes]},
        {"name": "alibi", "title": f"ALiBi (a bias on the scores, {alibi_heads} heads)",
         "slopes": [float(s) for s in alibi_slopes(alibi_heads)],
         "blocks": [block(alibi_bias(alibi_heads, 1, max_len)[:, 0, :])]},
    ]
    if learned is not None:
        table = _learned_table(learned)[:max_len]
        if table.shape[0] < max_len:
            raise ValueError(f"learned: expected at least max_len={max_len} positions, got {table.shape[0]}")
        # A trained table has a few outliers (MiniLM's: one of 1.87 among values mostly below 0.07): the
        # front end spans its colours and bars over the 99th percentile of |value| and clips beyond it.
        clip = float(np.percentile(np.abs(table), 99))
        methods.append({"name": "learned", "title": str(learned_title),
                        "blocks": [block(table, d_model=table.shape[1], clip=clip,
                                         beyond=int((np.abs(table) > clip).sum()))]})
    return methods, b"".join(chunks)


class PositionalExplorer(QKVWidget):
    """Sinusoidal, RoPE and ALiBi positions (and a learned table), explored by method, d_model and position.

    Args:
        max_len: positions 0..max_len-1. d_models: the sizes the reader can pick (even).
        learned: optional trained table ``[positions, d_model]`` (a tensor, an ``nn.Embedding`` or a
            ``qkv.positional.LearnedPositionalEmbedding``); adds the method "learned".
        learned_title: its name in the method picker. alibi_heads: heads for ALiBi.
        method, d_model, position: the first selection (defaults: sinusoidal, 64 or the largest size,
            position 8). seed: the random vector RoPE rotates.

    >>> w = PositionalExplorer(max_len=16, d_models=(8, 16), d_model=16, position=3)
    >>> [m["name"] for m in w.methods], w.d_model, w.table("sinusoidal").shape
    (['sinusoidal', 'rope', 'alibi'], 16, (16, 16))
    """

    _esm = front_end("positional")

    methods = traitlets.List(traitlets.Dict()).tag(sync=True)
    data = traitlets.Bytes().tag(sync=True)
    method = traitlets.Unicode("sinusoidal").tag(sync=True)
    d_model = traitlets.Int(64).tag(sync=True)
    position = traitlets.Int(8).tag(sync=True)
    max_len = traitlets.Int(64).tag(sync=True)

    def __init__(self, max_len=64, d_models=(8, 16, 32, 64), learned=None, learned_title="learned",
                 alibi_heads=8, method="sinusoidal", d_model=None, position=None, seed=0, **kwargs):
        methods, data = positional_payload(max_len, d_models, learned, learned_title, alibi_heads, seed)
        names = [m["name"] for m in methods]
        if method not in names:
            raise ValueError(f"method: expected one of {names}, got {method!r}")
        sizes = [b["d_model"] for b in methods[names.index("sinusoidal" if method == "alibi" else method)]["blocks"]]
        if d_model is None:
            d_model = 64 if 64 in sizes else sizes[-1]
        if d_model not in sizes:
            raise ValueError(f"d_model: expected one of {sizes} for {method}, got {d_model!r}")
        position = min(8, max_len - 1) if position is None else checks.check_int("position", position, 0, max_len - 1)
        super().__init__(methods=methods, data=data, method=method, d_model=d_model, position=position,
                         max_len=max_len, **kwargs)

    def table(self, method=None, d_model=None):
        """The table (or ALiBi bias block) as shipped: float64 ``[rows, columns]``."""
        method = self.method if method is None else method
        entry = next((m for m in self.methods if m["name"] == method), None)
        if entry is None:
            raise ValueError(f"method: expected one of {[m['name'] for m in self.methods]}, got {method!r}")
        d_model = self.d_model if d_model is None else d_model
        blk = next((b for b in entry["blocks"] if b.get("d_model") in (None, d_model)), entry["blocks"][-1])
        values = from_int16_bytes(self.data, blk["scale"], count=blk["rows"] * blk["columns"], offset=blk["offset"])
        return values.reshape(blk["rows"], blk["columns"])

    @traitlets.validate("position")
    def _valid_position(self, proposal):
        if not 0 <= proposal["value"] < self.max_len:
            raise traitlets.TraitError(f"position: expected 0 to {self.max_len - 1}, got {proposal['value']}")
        return proposal["value"]
