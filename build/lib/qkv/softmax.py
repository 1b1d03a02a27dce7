"""The softmax's own mathematics: its Jacobian, its entropy, and the Jacobian's largest entry.

A softmax ``p = softmax(z)`` passes gradient back to its logits through the Jacobian
``J = diag(p) - p p^T``. When one logit is far above the others, ``p`` is nearly one-hot and every
entry of ``J`` is nearly 0: the softmax is saturated, and almost no gradient reaches the scores. The
entropy measures how spread ``p`` is (``log n`` for a uniform distribution, 0 for a one-hot one).

Every function works on a batch of distributions ``[..., n]`` (the last dimension sums to one).
:mod:`qkv.saturation` uses them for the book's saturation experiment, :mod:`qkv.heads` to score
attention heads.

>>> import math
>>> p = torch.softmax(torch.tensor([[0.0, 0.0], [0.0, 40.0]], dtype=torch.float64), dim=-1)
>>> softmax_entropy(p).tolist() == [math.log(2), softmax_entropy(p[1]).item()], jacobian_max_abs(p)[0].item()
(True, 0.25)
"""

from __future__ import annotations

import torch

from qkv import checks


def softmax_jacobian(p):
    """The Jacobian of the softmax at probabilities ``p``: ``J[i, j] = dp_i / dz_j = p_i (δ_ij - p_j)``.

    Args:
        p: ``[..., n]`` probabilities (a softmax output).

    Returns:
        ``[..., n, n]``, that is ``diag(p) - p p^T``.

    >>> softmax_jacobian(torch.tensor([0.5, 0.5]))
    tensor([[ 0.2500, -0.2500],
            [-0.2500,  0.2500]])
    """
    checks.check_float("p", p)
    checks.check_min_ndim("p", p, 1, "[..., n]")
    return torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)


def softmax_entropy(p):
    """Entropy ``-sum p log p`` in nats over the last dimension, with ``0 log 0 = 0``.

    A NaN (or negative) probability gives a NaN entropy: nothing is hidden.

    It is ``log n`` for a uniform distribution over ``n`` keys and 0 when one key has all the weight.

    >>> import math
    >>> softmax_entropy(torch.tensor([0.25, 0.25, 0.25, 0.25], dtype=torch.float64)).item() == math.log(4)
    True
    >>> softmax_entropy(torch.tensor([1.0, 0.0]))
    tensor(0.)
    """
    checks.check_float("p", p)
    checks.check_min_ndim("p", p, 1, "[..., n]")
    zero = p == 0  # NaN is not 0: it goes through the log and stays NaN
    terms = torch.where(zero, torch.zeros_like(p), -p * torch.log(torch.where(zero, 1.0, p)))
    return terms.sum(-1)


def jacobian_max_abs(p):
    """The largest absolute entry of ``diag(p) - p p^T`` for each distribution ``p [..., n]``.

    The diagonal entries are ``p_i (1 - p_i)`` and the others ``-p_i p_j``. ``1 - p_i`` is computed
    as the sum of the other probabilities, which keeps its relative accuracy when ``p_i`` is close
    to 1 (a saturated softmax), where ``1 - p_i`` itself would be mostly rounding error. That sum is
    the probabilities before ``i`` plus those after it (two running sums, one from each end), so
    nothing is subtracted and nothing cancels. At most 1/4, reached by two keys sharing the weight
    equally.

    Args:
        p: ``[..., n]`` probabilities, ``n >= 1``.

    Returns:
        ``[...]``, in the dtype of ``p``: one value per distribution.

    >>> jacobian_max_abs(torch.tensor([0.5, 0.5], dtype=torch.float64)).item()
    0.25
    >>> jacobian_max_abs(torch.tensor([[1.0], [0.25]], dtype=torch.float64)).tolist()   # one key: J = 0
    [0.0, 0.0]
    >>> jacobian_max_abs(torch.tensor([1 - 1e-20, 1e-20], dtype=torch.float64)).item()  # 1 - p_0 rounds to 0
    1e-20
    """
    checks.check_float("p", p)
    checks.check_min_ndim("p", p, 1, "[..., n]")
    n = p.size(-1)
    if n == 0:
        raise ValueError(f"p: expected at least one probability, got an empty last dimension in shape {tuple(p.shape)}")
    before = _sums_before(p)  # sum_{j < i} p_j
    after = _sums_before(p.flip(-1)).flip(-1)  # sum_{j > i} p_j
    diagonal = (p * (before + after)).amax(-1)  # p_i (1 - p_i), with 1 - p_i summed from the others
    if n == 1:
        return diagonal
    top2 = p.topk(2, dim=-1).values
    return torch.maximum(diagonal, top2[..., 0] * top2[..., 1])  # the largest off-diagonal |p_i p_j|


def _sums_before(p):
    """``out[..., i] = sum_{j < i} p[..., j]``: a running sum that leaves out the entry itself."""
    return torch.cat((torch.zeros_like(p[..., :1]), p[..., :-1].cumsum(-1)), dim=-1)
