"""The softmax-saturation experiment: why attention divides the scores by sqrt(d_k).

For a query ``q`` and keys ``k_j`` with independent standard-normal entries, the dot product
``q . k_j`` has mean 0 and variance ``d_k``. Without scaling, a large ``d_k`` makes the logits
spread over tens of units, the softmax puts almost all its weight on one key, and its Jacobian
``diag(p) - p p^T`` (the gradient that reaches the scores) shrinks towards zero. Dividing by
``sqrt(d_k)`` keeps the logits at unit variance for every ``d_k``.

- :func:`sample_query_keys`: the seeded random ``q`` and ``k`` used by the book (and its widget).
- :func:`saturation`: everything for one setting (``d_k``, scaling on or off, number of keys, seed),
  measured with :mod:`qkv.softmax`.

Everything is computed in float64. The widget ``qkv.widgets.SoftmaxSaturation`` ships the same
``q`` and ``k`` to the browser and recomputes these numbers there; they agree with this module.

>>> s = saturation(d_k=512, num_keys=8, scaled=False)
>>> round(s.max_prob, 3), round(saturation(d_k=512, num_keys=8, scaled=True).max_prob, 3)
(1.0, 0.394)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from qkv import checks
from qkv.softmax import jacobian_max_abs, softmax_entropy

MAX_D_K = 1024  # q has this many entries; a setting with d_k uses the first d_k of them
MAX_KEYS = 64  # k has this many rows; a setting with n keys uses the first n
QUANTUM = 2.0**-10  # q and k are rounded to multiples of this (exact in 16 bits, and in any float)


def sample_query_keys(seed=0):
    """The random query and keys of the book: standard normal, rounded to multiples of ``2^-10``.

    One fixed draw per seed, so that a setting with a given ``d_k`` and number of keys always uses
    the first ``d_k`` entries of the same vectors: moving ``d_k`` adds dimensions, it does not
    re-draw them. The rounding (to about three decimals) makes every value an integer times
    ``2^-10``, which the widget can ship to the browser exactly.

    Returns:
        ``(q [MAX_D_K], k [MAX_KEYS, MAX_D_K])`` float64.

    >>> q, k = sample_query_keys(seed=0)
    >>> q.shape, k.shape, q.dtype
    (torch.Size([1024]), torch.Size([64, 1024]), torch.float64)
    >>> bool((q * 1024 == (q * 1024).round()).all())
    True
    """
    checks.check_int("seed", seed)
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(MAX_D_K, generator=generator, dtype=torch.float64)
    k = torch.randn(MAX_KEYS, MAX_D_K, generator=generator, dtype=torch.float64)
    return _round(q), _round(k)


def _round(x):
    return torch.round(x / QUANTUM) * QUANTUM


@dataclass(frozen=True)
class Saturation:
    """One setting of the softmax-saturation experiment and what it gives.

    d_k, num_keys, scaled, seed   the setting
    logits         Tensor [num_keys]: ``k[:n, :d_k] @ q[:d_k]``, divided by ``sqrt(d_k)`` if scaled
    probs          Tensor [num_keys]: softmax of the logits
    max_prob       the largest probability
    entropy        entropy of ``probs`` in nats (``log num_keys`` at most)
    jacobian_max   the largest absolute entry of ``diag(p) - p p^T`` (1/4 at most)

    >>> raw, scaled = saturation(512, 8, scaled=False), saturation(512, 8, scaled=True)
    >>> raw.logits.shape, raw.probs.shape
    (torch.Size([8]), torch.Size([8]))
    >>> round(raw.max_prob, 3), round(raw.entropy, 3), raw.jacobian_max < 1e-8   # saturated: no gradient
    (1.0, 0.0, True)
    >>> round(scaled.max_prob, 3), round(scaled.entropy, 3), round(scaled.jacobian_max, 3)
    (0.394, 1.696, 0.239)
    """

    d_k: int
    num_keys: int
    scaled: bool
    seed: int
    logits: torch.Tensor
    probs: torch.Tensor
    max_prob: float
    entropy: float
    jacobian_max: float


def saturation(d_k, num_keys, scaled=True, seed=0):
    """The softmax over ``num_keys`` keys of the scores ``q . k_j`` for ``d_k``-dimensional vectors.

    ``q`` and ``k`` are the first ``d_k`` entries (and first ``num_keys`` keys) of
    ``sample_query_keys(seed)``. The logits are ``k @ q``, times ``1 / sqrt(d_k)`` when ``scaled``.

    >>> s = saturation(d_k=64, num_keys=4, scaled=True)
    >>> s.logits.shape, s.probs.shape, round(float(s.probs.sum()), 12)
    (torch.Size([4]), torch.Size([4]), 1.0)
    >>> saturation(d_k=1, num_keys=1).max_prob, saturation(d_k=1, num_keys=1).jacobian_max
    (1.0, 0.0)
    """
    checks.check_positive_int("d_k", d_k)
    checks.check_positive_int("num_keys", num_keys)
    if d_k > MAX_D_K:
        raise ValueError(f"d_k: expected at most {MAX_D_K}, got {d_k}")
    if num_keys > MAX_KEYS:
        raise ValueError(f"num_keys: expected at most {MAX_KEYS}, got {num_keys}")
    checks.check_flag("scaled", scaled)
    checks.check_int("seed", seed)
    q, k = sample_query_keys(seed)
    logits = k[:num_keys, :d_k] @ q[:d_k]  # [num_keys]
    if scaled:
        logits = logits / math.sqrt(d_k)
    probs = torch.softmax(logits, dim=-1)
    return Saturation(
        d_k=d_k,
        num_keys=num_keys,
        scaled=scaled,
        seed=seed,
        logits=logits,
        probs=probs,
        max_prob=float(probs.max()),
        entropy=float(softmax_entropy(probs)),
        jacobian_max=float(jacobian_max_abs(probs)),
    )
