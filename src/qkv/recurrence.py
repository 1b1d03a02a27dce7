"""The road back to recurrence: attention and linear recurrences that run in parallel *and* as a loop.

Softmax attention must keep every past key and value to generate the next token. Two ideas give a
model that trains over all positions at once and yet generates with a state of fixed size:

- **Linear attention** (Katharopoulos et al. 2020): replace ``exp(q . k)`` by ``phi(q) . phi(k)`` with
  the feature map ``phi(x) = elu(x) + 1 > 0``. Causal attention is then

      out_i = phi(q_i)^T S_i / (phi(q_i)^T z_i),   S_i = sum_{j <= i} phi(k_j) v_j^T,  z_i = sum_{j <= i} phi(k_j)

  which :func:`linear_attention` computes for all positions at once (a masked ``[T, T]`` matrix, as
  in training) and :func:`linear_attention_recurrent` one step at a time with the running state
  ``(S [d_k, d_v], z [d_k])`` (:func:`linear_attention_step`, as in generation).
- **A diagonal linear recurrence** ``h_t = a_t * h_{t-1} + b_t`` (elementwise), the core of S4- and
  Mamba-style layers: :func:`linear_recurrence_loop` runs it step by step, :func:`linear_recurrence_scan`
  computes the same states with a parallel (Hillis-Steele) scan in ``ceil(log2 T)`` rounds, because
  composing two steps is again one step: ``(a1, b1)`` then ``(a2, b2)`` is ``(a1 a2, a2 b1 + b2)``.

Shapes are batch first; any leading dimensions (batch, heads) are allowed before ``[T, d]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from qkv import checks


def elu_feature_map(x):
    """``phi(x) = elu(x) + 1``, Katharopoulos et al.'s feature map: positive, so the normaliser never vanishes.

    >>> elu_feature_map(torch.tensor([-1e9, 0.0, 2.0]))
    tensor([0., 1., 3.])
    """
    checks.check_float("x", x)
    return F.elu(x) + 1


def _check_qkv(query, key, value):
    for name, t in (("query", query), ("key", key), ("value", value)):
        checks.check_float(name, t)
        checks.check_min_ndim(name, t, 2, "[..., T, d]")
    checks.check_same_dtype("key", key, "query", query)
    checks.check_same_dtype("value", value, "query", query)
    if key.shape[:-1] != value.shape[:-1]:
        raise ValueError(f"value: expected the leading shape of key {tuple(key.shape[:-1])} [..., T], "
                         f"got shape {tuple(value.shape)}")
    if query.shape != key.shape:
        raise ValueError(f"key: expected the shape of query {tuple(query.shape)} [..., T, d_k], "
                         f"got {tuple(key.shape)}")
    checks.check_nonempty("query", query, -2)


def linear_attention(query, key, value, causal=True):
    """Linear attention in its parallel form: ``(phi(Q) phi(K)^T, masked) V``, each row normalised.

    The ``[T, T]`` matrix of ``phi(q_i) . phi(k_j)`` is formed at once (zeroed for ``j > i`` when
    ``causal``), so its cost is quadratic in T like softmax attention; its point is that it equals
    :func:`linear_attention_recurrent`, whose state does not grow.

    Shapes: ``query, key [..., T, d_k]``, ``value [..., T, d_v]`` -> ``[..., T, d_v]``.

    >>> q = k = torch.zeros(1, 3, 2)                     # phi(0) = 1: every visible key weighs the same
    >>> v = torch.tensor([[[3.0], [6.0], [9.0]]])
    >>> linear_attention(q, k, v)[0, :, 0]               # running means 3, (3 + 6) / 2, (3 + 6 + 9) / 3
    tensor([3.0000, 4.5000, 6.0000])
    """
    _check_qkv(query, key, value)
    checks.check_flag("causal", causal)
    scores = elu_feature_map(query) @ elu_feature_map(key).transpose(-2, -1)  # [..., T, T], all > 0
    if causal:
        scores = scores.tril()
    return (scores @ value) / scores.sum(-1, keepdim=True)


def linear_attention_step(query, key, value, state=None):
    """One step of causal linear attention: fold ``(k_t, v_t)`` into the state, then read it with ``q_t``.

    Shapes: ``query, key [..., d_k]``, ``value [..., d_v]``; ``state = (S [..., d_k, d_v], z [..., d_k])``
    (``None``: zeros) -> ``(out [..., d_v], new state)``. The state has the same size at every step.

    >>> out, (S, z) = linear_attention_step(torch.zeros(2), torch.zeros(2), torch.tensor([5.0]))
    >>> out, S.shape, z
    (tensor([5.]), torch.Size([2, 1]), tensor([1., 1.]))
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        checks.check_float(name, t)
        checks.check_min_ndim(name, t, 1, "[..., d]")
    if query.shape != key.shape:
        raise ValueError(f"key: expected the shape of query {tuple(query.shape)}, got {tuple(key.shape)}")
    if key.shape[:-1] != value.shape[:-1]:
        raise ValueError(f"value: expected the leading shape of key {tuple(key.shape[:-1])}, "
                         f"got shape {tuple(value.shape)}")
    phi_k, phi_q = elu_feature_map(key), elu_feature_map(query)
    if state is None:
        S = phi_k.new_zeros(*phi_k.shape, value.size(-1))
        z = torch.zeros_like(phi_k)
    else:
        checks.check_pair("state", state, "(S [..., d_k, d_v], z [..., d_k])")
        S, z = state
        checks.check_shape("S", S, (*phi_k.shape, value.size(-1)), "[..., d_k, d_v]")
        checks.check_shape("z", z, tuple(phi_k.shape), "[..., d_k]")
    S = S + phi_k.unsqueeze(-1) * value.unsqueeze(-2)  # S += phi(k_t) v_t^T
    z = z + phi_k
    out = (phi_q.unsqueeze(-2) @ S).squeeze(-2) / (phi_q * z).sum(-1, keepdim=True)
    return out, (S, z)


def linear_attention_recurrent(query, key, value):
    """Causal linear attention as a recurrence: :func:`linear_attention_step` over t = 0 .. T - 1.

    Equals ``linear_attention(query, key, value, causal=True)`` up to rounding (tested).

    Shapes: ``query, key [..., T, d_k]``, ``value [..., T, d_v]`` -> ``[..., T, d_v]``.

    >>> q, k, v = torch.randn(2, 5, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 3)
    >>> torch.allclose(linear_attention_recurrent(q, k, v), linear_attention(q, k, v), atol=1e-5)
    True
    """
    _check_qkv(query, key, value)
    state, outs = None, []
    for t in range(query.size(-2)):
        out, state = linear_attention_step(query[..., t, :], key[..., t, :], value[..., t, :], state)
        outs.append(out)
    return torch.stack(outs, dim=-2)


def _check_recurrence(a, b, h0):
    checks.check_float("a", a)
    checks.check_float("b", b)
    checks.check_min_ndim("b", b, 2, "[..., T, d]")
    checks.check_same_dtype("a", a, "b", b)
    if a.shape != b.shape:
        raise ValueError(f"a: expected the shape of b {tuple(b.shape)} [..., T, d], got {tuple(a.shape)}")
    checks.check_nonempty("b", b, -2)
    if h0 is not None:
        checks.check_float("h0", h0)
        checks.check_same_dtype("h0", h0, "b", b)
        expected = b.shape[:-2] + b.shape[-1:]
        checks.check_shape("h0", h0, tuple(expected), "[..., d], b without its T axis")


def linear_recurrence_loop(a, b, h0=None):
    """``h_t = a_t * h_{t-1} + b_t`` (elementwise), one step at a time; ``h_{-1} = h0`` (zeros by default).

    Shapes: ``a, b [..., T, d]``, ``h0 [..., d]`` -> all states ``h [..., T, d]``.

    >>> a = torch.full((1, 3, 1), 0.5)
    >>> linear_recurrence_loop(a, torch.ones(1, 3, 1))[0, :, 0]    # 1, 0.5 * 1 + 1, 0.5 * 1.5 + 1
    tensor([1.0000, 1.5000, 1.7500])
    """
    _check_recurrence(a, b, h0)
    h = b.new_zeros(b.shape[:-2] + b.shape[-1:]) if h0 is None else h0
    states = []
    for t in range(b.size(-2)):
        h = a[..., t, :] * h + b[..., t, :]
        states.append(h)
    return torch.stack(states, dim=-2)


def linear_recurrence_scan(a, b, h0=None):
    """The states of :func:`linear_recurrence_loop`, by a parallel prefix scan in ``ceil(log2 T)`` rounds.

    Each round composes every position with the one ``2^r`` places before it, all positions at once:
    ``(A, B) <- (A * A_shifted, A * B_shifted + B)``, with the identity step ``(1, 0)`` shifted in.
    After the last round ``B_t = h_t``. The work is ``O(T log T)`` instead of ``O(T)``, but the number
    of sequential rounds falls from T to ``log2 T``.

    >>> a, b = torch.rand(2, 7, 3), torch.randn(2, 7, 3)
    >>> torch.allclose(linear_recurrence_scan(a, b), linear_recurrence_loop(a, b), atol=1e-6)
    True
    """
    _check_recurrence(a, b, h0)
    if h0 is not None:  # fold the initial state into the first step: h_0 = a_0 h0 + b_0
        b = torch.cat([(a[..., :1, :] * h0.unsqueeze(-2) + b[..., :1, :]), b[..., 1:, :]], dim=-2)
    A, B = a, b
    T, offset = b.size(-2), 1
    while offset < T:
        A_prev = F.pad(A[..., :-offset, :], (0, 0, offset, 0), value=1.0)  # the identity step (1, 0)
        B_prev = F.pad(B[..., :-offset, :], (0, 0, offset, 0), value=0.0)
        A, B = A * A_prev, A * B_prev + B
        offset *= 2
    return B


def scan_rounds(length):
    """How many rounds :func:`linear_recurrence_scan` takes for ``length`` steps: ``ceil(log2 length)``.

    >>> [scan_rounds(n) for n in (1, 2, 3, 1024, 1025)]
    [0, 1, 2, 10, 11]
    """
    checks.check_positive_int("length", length)
    return (length - 1).bit_length()
