"""What does an attention head look at? Scores that find heads by measurement.

An attention map ``attn [..., T, T]`` holds, in row ``i``, how much query ``i`` attends to each key
``j`` (every row sums to one). Each function here turns a map into one number per head, so that a
stack ``[layers, heads, T, T]`` gives a table ``[layers, heads]`` in which the best head of a kind can
be looked up:

- :func:`offset_score`: the mean weight on the key ``offset`` places away (``-1``: the previous
  token, ``+1``: the next one, ``0``: the token itself), after Clark et al. (2019).
- :func:`key_mass`: the mean weight on a set of key positions, for instance ``[CLS]`` or ``[SEP]``.
- :func:`attention_entropy`: the mean entropy of the rows; high for broad heads, 0 for one-hot rows.
- :func:`profile_heads`: all of the above for several sentences of different lengths, averaged.
- :func:`best_head`: the ``(layer, head, score)`` with the largest (or smallest) score.

>>> import torch
>>> previous = torch.eye(4).roll(-1, dims=1)        # row i puts all its weight on key i - 1 ...
>>> previous[0] = torch.tensor([1.0, 0.0, 0.0, 0.0])  # ... except row 0, which has no left neighbour
>>> offset_score(previous, -1).item(), offset_score(previous, +1).item()
(1.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from qkv import checks
from qkv.softmax import softmax_entropy

# The scores that profile_heads computes, and what a head that maximises each one does.
PATTERNS = {
    "previous": "attends to the token on its left (offset -1)",
    "next": "attends to the token on its right (offset +1)",
    "self": "attends to its own position (offset 0)",
    "cls": "puts its weight on the first token, [CLS]",
    "sep": "puts its weight on the last token, [SEP]",
    "entropy": "spreads its weight broadly (mean row entropy / log T)",
}


def _check_map(name, attn):
    checks.check_float(name, attn)
    checks.check_min_ndim(name, attn, 2, "[..., T, T]")
    if attn.size(-1) != attn.size(-2):
        raise ValueError(f"{name}: expected square maps [..., T, T] (self-attention), got shape {tuple(attn.shape)}")
    checks.check_nonempty(name, attn, -1)


def offset_score(attn, offset):
    """Mean weight that a query puts on the key ``offset`` positions away: ``attn[..., i, i + offset]``.

    The mean runs over the queries ``i`` that have such a key (``0 <= i + offset < T``): for
    ``offset = -1`` the first query, which has no left neighbour, is left out. A head that always
    attends to the previous token scores 1 with ``offset=-1``; a uniform head scores ``1 / T``.

    Args:
        attn: ``[..., T, T]`` attention weights (rows sum to one).
        offset: an int with ``|offset| < T``.

    Returns:
        ``[...]``: one score per map, e.g. ``[layers, heads]`` for a stack ``[layers, heads, T, T]``.

    >>> import torch
    >>> offset_score(torch.full((2, 3, 5, 5), 0.2), 1).shape     # uniform maps: 1/T everywhere
    torch.Size([2, 3])
    >>> round(offset_score(torch.full((5, 5), 0.2), 1).item(), 4)
    0.2
    """
    _check_map("attn", attn)
    checks.check_int("offset", offset)
    T = attn.size(-1)
    if abs(offset) >= T:
        raise ValueError(f"offset: expected |offset| < T = {T} (the map's length), got {offset}")
    queries = torch.arange(max(0, -offset), min(T, T - offset), device=attn.device)  # those with a key
    return attn[..., queries, queries + offset].mean(-1)


def key_mass(attn, positions):
    """Mean (over the queries) of the total weight on the keys at ``positions``.

    ``key_mass(attn, [0])`` is how much a head attends to ``[CLS]`` (BERT's first token);
    ``key_mass(attn, [T - 1])`` to the final ``[SEP]``. A uniform head scores ``len(positions) / T``.

    Args:
        attn: ``[..., T, T]``.
        positions: a non-empty sequence of distinct key positions in ``[-T, T)`` (negative counts from
            the end, as in Python).

    Returns:
        ``[...]``.

    >>> import torch
    >>> cls = torch.zeros(4, 4); cls[:, 0] = 1.0          # every query attends to the first key
    >>> key_mass(cls, [0]).item(), key_mass(cls, [-1]).item()
    (1.0, 0.0)
    """
    _check_map("attn", attn)
    T = attn.size(-1)
    if isinstance(positions, (str, bytes)) or not isinstance(positions, Sequence) or len(positions) == 0:
        raise TypeError(f"positions: expected a non-empty list of ints, got {positions!r}")
    for i, p in enumerate(positions):
        checks.check_int(f"positions[{i}]", p)
        if not -T <= p < T:
            raise ValueError(f"positions: expected positions in [{-T}, {T}) for T = {T}, got {p}")
    index = sorted({p % T for p in positions})
    if len(index) != len(positions):
        raise ValueError(f"positions: expected distinct positions, got {list(positions)} (T = {T})")
    return attn[..., index].sum(-1).mean(-1)


def attention_entropy(attn, normalize=True):
    """Mean entropy (nats) of the rows of ``attn``, divided by ``log T`` when ``normalize``.

    With ``normalize=True`` a uniform head scores 1 and a head whose rows are one-hot scores 0, so
    maps of different lengths can be compared.

    Args:
        attn: ``[..., T, T]`` with ``T >= 2`` when ``normalize`` (``log 1 = 0``).

    Returns:
        ``[...]``.

    >>> import torch
    >>> attention_entropy(torch.full((3, 3), 1 / 3)).item(), attention_entropy(torch.eye(3)).item()
    (1.0, 0.0)
    """
    _check_map("attn", attn)
    checks.check_flag("normalize", normalize)
    T = attn.size(-1)
    if normalize and T < 2:
        raise ValueError(f"attn: normalize=True needs T >= 2 keys (log 1 = 0), got shape {tuple(attn.shape)}")
    entropy = softmax_entropy(attn).mean(-1)  # the entropy of each row (0 log 0 = 0), averaged
    return entropy / math.log(T) if normalize else entropy


def profile_heads(maps):
    """Every score of :data:`PATTERNS` for each head, averaged over several sentences.

    Sentences have different lengths, so each map is scored on its own and the scores are averaged.
    ``cls`` and ``sep`` assume BERT's layout: ``[CLS]`` first and ``[SEP]`` last.

    Args:
        maps: a non-empty list of attention stacks ``[layers, heads, T_s, T_s]`` (one per sentence,
            e.g. ``MiniLM.run(sentence).attentions``), all with the same layers and heads and
            ``T_s >= 2``.

    Returns:
        a dict from pattern name to a ``[layers, heads]`` tensor of mean scores.

    >>> import torch
    >>> maps = [torch.full((2, 3, n, n), 1 / n) for n in (4, 5)]  # two sentences, uniform heads
    >>> scores = profile_heads(maps)
    >>> sorted(scores), scores["entropy"].shape
    (['cls', 'entropy', 'next', 'previous', 'self', 'sep'], torch.Size([2, 3]))
    """
    if isinstance(maps, torch.Tensor) or not isinstance(maps, Sequence) or len(maps) == 0:
        raise TypeError(f"maps: expected a non-empty list of [layers, heads, T, T] tensors, got {type(maps).__name__}")
    shape = None
    totals = {name: 0.0 for name in PATTERNS}
    for s, attn in enumerate(maps):
        name = f"maps[{s}]"
        _check_map(name, attn)
        checks.check_ndim(name, attn, 4, "[layers, heads, T, T]")
        if attn.size(-1) < 2:
            raise ValueError(f"{name}: expected at least 2 tokens, got shape {tuple(attn.shape)}")
        if shape is None:
            shape = attn.shape[:2]
        elif attn.shape[:2] != shape:
            raise ValueError(f"{name}: expected {tuple(shape)} layers and heads (as maps[0]), "
                             f"got shape {tuple(attn.shape)}")
        totals["previous"] = totals["previous"] + offset_score(attn, -1)
        totals["next"] = totals["next"] + offset_score(attn, 1)
        totals["self"] = totals["self"] + offset_score(attn, 0)
        totals["cls"] = totals["cls"] + key_mass(attn, [0])
        totals["sep"] = totals["sep"] + key_mass(attn, [-1])
        totals["entropy"] = totals["entropy"] + attention_entropy(attn)
    return {name: total / len(maps) for name, total in totals.items()}


def best_head(scores, largest=True):
    """The ``(layer, head, score)`` of the highest (or, with ``largest=False``, lowest) score.

    Args:
        scores: ``[layers, heads]``, e.g. one entry of :func:`profile_heads`.

    Returns:
        ``(layer, head, score)``: two ints (counting from 0) and a float.

    >>> import torch
    >>> best_head(torch.tensor([[0.25, 0.5], [0.75, 0.125]]))
    (1, 0, 0.75)
    >>> best_head(torch.tensor([[0.25, 0.5], [0.75, 0.125]]), largest=False)
    (1, 1, 0.125)
    """
    checks.check_float("scores", scores)
    checks.check_ndim("scores", scores, 2, "[layers, heads]")
    checks.check_nonempty("scores", scores, 0)
    checks.check_nonempty("scores", scores, 1)
    checks.check_no_nan("scores", scores)  # argmax would pick a NaN as the largest
    checks.check_flag("largest", largest)
    flat = scores.flatten()
    index = int(flat.argmax() if largest else flat.argmin())
    layer, head = divmod(index, scores.size(1))
    return layer, head, float(flat[index])
