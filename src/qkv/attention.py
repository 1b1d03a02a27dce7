"""Attention: scaled dot-product, additive (Bahdanau) and multi-head.

Shapes are batch first. A query ``[..., Lq, d_k]`` is compared with every key ``[..., Lk, d_k]``; the
scores ``[..., Lq, Lk]`` go through a softmax over the keys, and the resulting weights mix the values
``[..., Lk, d_v]`` into an output ``[..., Lq, d_v]``.

Masks are boolean with ``True`` meaning "may attend", as in
``torch.nn.functional.scaled_dot_product_attention``, and broadcast against the scores
``[batch, heads, Lq, Lk]``: a padding mask ``[batch, 1, 1, Lk]`` and a causal mask ``[Lq, Lk]`` both work.

A query row whose keys are *all* masked gets zero weights and a zero output, never NaN. The plain
softmax of a row of ``-inf`` is 0/0 = NaN (``nn.MultiheadAttention`` returns NaN there); a NaN would
spread through every later layer, and a zero is what "attend to nothing" means. PyTorch 2.13's
``F.scaled_dot_product_attention`` makes the same choice as this module.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from qkv import checks


def masked_softmax(scores, mask=None):
    """Softmax over the last dimension (the keys), giving masked keys a weight of exactly zero.

    A key is masked when ``mask`` is False there or when its score is ``-inf`` (a bias can mask too).

    Args:
        scores: ``[..., Lq, Lk]`` floating-point scores.
        mask: optional boolean mask broadcastable to ``scores``; ``True`` = may attend.

    Returns:
        weights ``[..., Lq, Lk]``: each row sums to one, except a row whose keys are all masked,
        which is all zeros (not NaN), as in PyTorch's ``scaled_dot_product_attention``.

    >>> import torch
    >>> masked_softmax(torch.zeros(2, 3), torch.tensor([[True, True, False], [False, False, False]]))
    tensor([[0.5000, 0.5000, 0.0000],
            [0.0000, 0.0000, 0.0000]])
    >>> masked_softmax(torch.tensor([0.0, float("-inf")]))   # a -inf score masks its key too
    tensor([1., 0.])
    """
    checks.check_float("scores", scores)
    checks.check_min_ndim("scores", scores, 1, "[..., Lk]")
    checks.check_mask("mask", mask, scores.shape)
    if mask is not None:
        # exp(-inf) = 0, so a masked key gets exactly zero weight and its value cannot leak into the output.
        scores = scores.masked_fill(~mask, float("-inf"))
    masked = scores == float("-inf")  # by the mask or by a -inf bias
    # A row with every key masked would be softmax(-inf, ..., -inf) = 0/0 = NaN: give it zeros (its
    # scores are set to 0 first, so not even its gradient is NaN). No other row changes.
    weights = torch.softmax(scores.masked_fill(masked.all(-1, keepdim=True), 0.0), dim=-1)
    return weights.masked_fill(masked, 0.0)


def scaled_dot_product_attention(query, key, value, mask=None, scale=None, dropout_p=0.0, *, bias=None):
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V, from "Attention Is All You Need" (eq. 1).

    Args:
        query: ``[..., Lq, d_k]``.
        key: ``[..., Lk, d_k]``.
        value: ``[..., Lk, d_v]``.
        mask: optional boolean mask broadcastable to the scores ``[..., Lq, Lk]``; ``True`` = may attend.
        scale: factor applied to ``Q K^T``; default ``1 / sqrt(d_k)``.
        dropout_p: dropout applied to the weights (always, like PyTorch's function; pass 0 in eval).
        bias: optional float tensor added to the scores before the mask, e.g. ALiBi or a
            relative-position bias, broadcastable to ``[..., Lq, Lk]``.

    Returns:
        ``(output, weights)``: output ``[..., Lq, d_v]`` and the weights ``[..., Lq, Lk]`` that mixed the
        values (after dropout, so ``output == weights @ value``). A query whose keys are all masked
        gets zero weights and a zero output.

    >>> import torch
    >>> q, k, v = torch.zeros(1, 2, 4), torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    >>> out, w = scaled_dot_product_attention(q, k, v, mask=torch.tensor([True, True, False]))
    >>> w                         # equal scores: uniform over the keys the mask allows
    tensor([[[0.5000, 0.5000, 0.0000],
             [0.5000, 0.5000, 0.0000]]])
    >>> torch.allclose(out, (v[:, 0] + v[:, 1]) / 2)
    True
    """
    checks.check_attention_inputs(query, key, value)
    checks.check_probability("dropout_p", dropout_p)
    if scale is not None:
        checks.check_number("scale", scale)
    scores_shape = (*torch.broadcast_shapes(query.shape[:-2], key.shape[:-2]), query.size(-2), key.size(-2))
    checks.check_mask("mask", mask, scores_shape)
    if bias is not None:
        checks.check_bias("bias", bias, scores_shape)

    if scale is None:
        # Dot products of d_k-dimensional unit-variance vectors have variance d_k; dividing by
        # sqrt(d_k) keeps the softmax out of its flat, vanishing-gradient regions.
        scale = 1.0 / math.sqrt(query.size(-1))
    # Scores, softmax and mixing in at least float32, as PyTorch does: float16 overflows past 65504.
    dtype = torch.promote_types(query.dtype, torch.float32)
    scores = query.to(dtype) @ key.to(dtype).transpose(-2, -1) * scale  # [..., Lq, Lk]
    if bias is not None:
        scores = scores + bias
    weights = masked_softmax(scores, mask)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return (weights @ value.to(dtype)).to(query.dtype), weights.to(query.dtype)


def additive_attention(query, key, value, w_query, w_key, v, mask=None):
    """Additive (Bahdanau) attention: score(q, k) = v^T tanh(W_q q + W_k k).

    Instead of a dot product, a one-hidden-layer network scores each (query, key) pair, so queries and
    keys may have different sizes. Bahdanau et al. (2015) used it to align a decoder state with the
    encoder states.

    Args:
        query: ``[..., Lq, d_query]``.
        key: ``[..., Lk, d_key]``.
        value: ``[..., Lk, d_v]``.
        w_query: ``[d_hidden, d_query]``.
        w_key: ``[d_hidden, d_key]``.
        v: ``[d_hidden]``.
        mask: optional boolean mask broadcastable to ``[..., Lq, Lk]``; ``True`` = may attend.

    Returns:
        ``(output [..., Lq, d_v], weights [..., Lq, Lk])``.

    >>> import torch
    >>> q, k = torch.ones(1, 1, 2), torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    >>> out, w = additive_attention(q, k, k, torch.eye(2), torch.eye(2), torch.tensor([1.0, -1.0]))
    >>> w.shape, bool(w[0, 0, 0] > w[0, 0, 1])
    (torch.Size([1, 1, 2]), True)
    """
    checks.check_attention_inputs(query, key, value, same_d_k=False)
    for name, w in (("w_query", w_query), ("w_key", w_key), ("v", v)):
        checks.check_float(name, w)
        checks.check_same_dtype(name, w, "query", query)
    checks.check_ndim("w_query", w_query, 2, "[d_hidden, d_query]")
    checks.check_ndim("w_key", w_key, 2, "[d_hidden, d_key]")
    checks.check_size("w_query", w_query, -1, query.size(-1), "d_query")
    checks.check_size("w_key", w_key, -1, key.size(-1), "d_key")
    checks.check_size("w_key", w_key, 0, w_query.size(0), "d_hidden, the rows of w_query")
    checks.check_shape("v", v, (w_query.size(0),), "[d_hidden]")
    scores_shape = (*torch.broadcast_shapes(query.shape[:-2], key.shape[:-2]), query.size(-2), key.size(-2))
    checks.check_mask("mask", mask, scores_shape)

    q = query @ w_query.T  # [..., Lq, d_hidden]
    k = key @ w_key.T  # [..., Lk, d_hidden]
    # Every query meets every key: broadcast [..., Lq, 1, h] + [..., 1, Lk, h] -> [..., Lq, Lk, h].
    scores = torch.tanh(q.unsqueeze(-2) + k.unsqueeze(-3)) @ v  # [..., Lq, Lk]
    weights = masked_softmax(scores, mask)
    return weights @ value, weights


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau) attention as a module, holding ``W_q``, ``W_k`` and ``v``.

    Args:
        d_query: query size. d_key: key size. d_hidden: size of the scoring layer.

    Shapes: ``forward(query [B, Lq, d_query], key [B, Lk, d_key], value [B, Lk, d_v], mask=None)``
    returns ``(output [B, Lq, d_v], weights [B, Lq, Lk])``.

    >>> import torch
    >>> attn = AdditiveAttention(d_query=4, d_key=6, d_hidden=8)
    >>> out, w = attn(torch.randn(2, 3, 4), torch.randn(2, 5, 6), torch.randn(2, 5, 7))
    >>> out.shape, w.shape
    (torch.Size([2, 3, 7]), torch.Size([2, 3, 5]))
    """

    def __init__(self, d_query, d_key, d_hidden):
        super().__init__()
        for name, size in (("d_query", d_query), ("d_key", d_key), ("d_hidden", d_hidden)):
            checks.check_positive_int(name, size)
        self.query_proj = nn.Linear(d_query, d_hidden, bias=False)  # W_q
        self.key_proj = nn.Linear(d_key, d_hidden, bias=False)  # W_k
        self.v = nn.Parameter(torch.empty(d_hidden).uniform_(-d_hidden**-0.5, d_hidden**-0.5))

    def forward(self, query, key, value, mask=None):
        for name, x in (("query", query), ("key", key), ("value", value)):
            checks.check_float(name, x)
            checks.check_module_dtype(name, x, self.v.dtype)
        return additive_attention(query, key, value, self.query_proj.weight, self.key_proj.weight, self.v, mask)


class MultiHeadAttention(nn.Module):
    """Multi-head attention: ``num_heads`` scaled dot-product attentions side by side.

    Each head attends in its own ``d_model / num_heads``-dimensional subspace, so different heads can
    look at different positions; the heads' outputs are concatenated and mixed by ``out_proj``.

    Args:
        d_model: model size (must be divisible by ``num_heads``).
        num_heads: number of heads.
        dropout: dropout on the attention weights during training.
        bias: whether the four projections have biases.

    Shapes: ``forward(query [B, Lq, d_model], key [B, Lk, d_model], value [B, Lk, d_model], mask=None)``
    returns ``(output [B, Lq, d_model], weights [B, num_heads, Lq, Lk])``. ``mask`` is boolean
    (``True`` = may attend) and broadcasts against ``[B, num_heads, Lq, Lk]``.

    >>> import torch
    >>> mha = MultiHeadAttention(d_model=8, num_heads=2)
    >>> x = torch.randn(3, 5, 8)
    >>> out, w = mha(x, x, x)
    >>> out.shape, w.shape
    (torch.Size([3, 5, 8]), torch.Size([3, 2, 5, 5]))
    """

    def __init__(self, d_model, num_heads, dropout=0.0, bias=True):
        super().__init__()
        checks.check_positive_int("d_model", d_model)
        checks.check_positive_int("num_heads", num_heads)
        checks.check_divisible("d_model", d_model, "num_heads", num_heads)
        checks.check_probability("dropout", dropout)
        checks.check_flag("bias", bias)
        self.d_model = d_model
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key, value, mask=None):
        for name, x in (("query", query), ("key", key), ("value", value)):
            checks.check_float(name, x)
            checks.check_ndim(name, x, 3, "[batch, length, d_model]")
            checks.check_size(name, x, -1, self.d_model, "d_model")
            checks.check_size(name, x, 0, query.size(0), "the batch size of query")
            checks.check_module_dtype(name, x, self.q_proj.weight.dtype)
        checks.check_attention_inputs(query, key, value)
        checks.check_mask("mask", mask, (query.size(0), self.num_heads, query.size(1), key.size(1)))

        def split_heads(x):  # [B, L, d_model] -> [B, heads, L, head_dim]
            return x.view(x.size(0), x.size(1), self.num_heads, self.head_dim).transpose(1, 2)

        q = split_heads(self.q_proj(query))
        k = split_heads(self.k_proj(key))
        v = split_heads(self.v_proj(value))
        dropout_p = self.dropout if self.training else 0.0
        out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p=dropout_p)
        # Concatenate the heads: [B, heads, Lq, head_dim] -> [B, Lq, d_model].
        out = out.transpose(1, 2).reshape(query.size(0), query.size(1), self.d_model)
        return self.out_proj(out), weights

    @classmethod
    def from_torch(cls, mha):
        """Build a ``MultiHeadAttention`` with the same weights as a ``torch.nn.MultiheadAttention``.

        PyTorch stacks the query, key and value projections in one ``in_proj_weight [3 * d, d]``;
        here they are split into ``q_proj``, ``k_proj`` and ``v_proj``. PyTorch's ``batch_first``
        does not matter (the weights are the same); this module is always batch first.

        >>> import torch
        >>> ref = torch.nn.MultiheadAttention(8, 2, batch_first=True)
        >>> ours = MultiHeadAttention.from_torch(ref)
        >>> torch.equal(ours.k_proj.weight, ref.in_proj_weight[8:16])
        True
        """
        if not isinstance(mha, nn.MultiheadAttention):
            raise TypeError(f"mha: expected a torch.nn.MultiheadAttention, got {type(mha).__name__}")
        if not mha._qkv_same_embed_dim or mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError("mha: expected kdim == vdim == embed_dim, add_bias_kv=False and add_zero_attn=False")
        has_bias = mha.in_proj_bias is not None
        new = cls(mha.embed_dim, mha.num_heads, dropout=mha.dropout, bias=has_bias)
        new.to(device=mha.in_proj_weight.device, dtype=mha.in_proj_weight.dtype)
        with torch.no_grad():
            w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
            new.q_proj.weight.copy_(w_q)
            new.k_proj.weight.copy_(w_k)
            new.v_proj.weight.copy_(w_v)
            new.out_proj.weight.copy_(mha.out_proj.weight)
            if has_bias:
                b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
                new.q_proj.bias.copy_(b_q)
                new.k_proj.bias.copy_(b_k)
                new.v_proj.bias.copy_(b_v)
                new.out_proj.bias.copy_(mha.out_proj.bias)
        return new.train(mha.training)


def repeat_kv_heads(x, repeats):
    """Repeat each key/value head ``repeats`` times: ``[B, kv_heads, L, d] -> [B, kv_heads * repeats, L, d]``.

    Head ``h`` of the result is head ``h // repeats`` of ``x``, so query heads ``0..repeats-1`` share the
    first key/value head, the next ``repeats`` the second, and so on (the grouping of Ainslie et al. 2023,
    and of ``F.scaled_dot_product_attention(..., enable_gqa=True)``).

    >>> import torch
    >>> repeat_kv_heads(torch.tensor([[[[1.0]], [[2.0]]]]), 2).flatten().tolist()
    [1.0, 1.0, 2.0, 2.0]
    """
    checks.check_tensor("x", x)
    checks.check_ndim("x", x, 4, "[batch, kv_heads, length, head_dim]")
    checks.check_positive_int("repeats", repeats)
    return x.repeat_interleave(repeats, dim=1)


class GroupedQueryAttention(nn.Module):
    """Attention whose ``num_heads`` query heads share ``num_kv_heads`` key/value heads.

    ``num_kv_heads == num_heads`` is multi-head attention (Vaswani et al. 2017); ``num_kv_heads == 1`` is
    multi-query attention (Shazeer 2019), one key and one value head for all queries; in between is
    grouped-query attention (Ainslie et al. 2023), each group of ``num_heads / num_kv_heads`` query heads
    sharing one. Only the key and value projections shrink, to ``num_kv_heads * head_dim`` outputs, and so
    does what a decoder caches per token: ``2 * num_kv_heads * head_dim`` numbers instead of
    ``2 * d_model``.

    Args:
        d_model: model size (divisible by ``num_heads``). num_heads: query heads.
        num_kv_heads: key/value heads (divides ``num_heads``). dropout: on the weights, in training.
        bias: whether the four projections have biases.

    Shapes: ``forward(query [B, Lq, d_model], key [B, Lk, d_model], value [B, Lk, d_model], mask=None)``
    returns ``(output [B, Lq, d_model], weights [B, num_heads, Lq, Lk])``; ``project_kv(key, value)``
    returns the keys and values a cache would hold, each ``[B, num_kv_heads, Lk, head_dim]``.

    >>> import torch
    >>> gqa = GroupedQueryAttention(d_model=8, num_heads=4, num_kv_heads=2)
    >>> x = torch.randn(3, 5, 8)
    >>> out, w = gqa(x, x, x)
    >>> out.shape, w.shape, gqa.k_proj.weight.shape     # keys: 2 heads of size 2
    (torch.Size([3, 5, 8]), torch.Size([3, 4, 5, 5]), torch.Size([4, 8]))
    """

    def __init__(self, d_model, num_heads, num_kv_heads, dropout=0.0, bias=True):
        super().__init__()
        checks.check_positive_int("d_model", d_model)
        checks.check_positive_int("num_heads", num_heads)
        checks.check_positive_int("num_kv_heads", num_kv_heads)
        checks.check_divisible("d_model", d_model, "num_heads", num_heads)
        checks.check_divisible("num_heads", num_heads, "num_kv_heads", num_kv_heads)
        checks.check_probability("dropout", dropout)
        checks.check_flag("bias", bias)
        self.d_model, self.num_heads, self.num_kv_heads = d_model, num_heads, num_kv_heads
        self.head_dim = d_model // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        # The only change from multi-head attention: keys and values have num_kv_heads heads, not num_heads.
        self.k_proj = nn.Linear(d_model, num_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(d_model, num_kv_heads * self.head_dim, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _check(self, name, x, batch=None, batch_of="query"):
        checks.check_float(name, x)
        checks.check_ndim(name, x, 3, "[batch, length, d_model]")
        checks.check_size(name, x, -1, self.d_model, "d_model")
        if batch is not None:
            checks.check_size(name, x, 0, batch, f"the batch size of {batch_of}")
        checks.check_module_dtype(name, x, self.q_proj.weight.dtype)

    def project_kv(self, key, value):
        """Keys and values, each ``[B, num_kv_heads, Lk, head_dim]``: what a KV cache stores."""
        self._check("key", key)
        self._check("value", value, key.size(0), "key")
        checks.check_size("value", value, 1, key.size(1), "the length of key")

        def split(x):  # [B, L, kv_heads * head_dim] -> [B, kv_heads, L, head_dim]
            return x.view(x.size(0), x.size(1), self.num_kv_heads, self.head_dim).transpose(1, 2)

        return split(self.k_proj(key)), split(self.v_proj(value))

    def forward(self, query, key, value, mask=None):
        self._check("query", query)
        self._check("key", key, query.size(0))
        self._check("value", value, query.size(0))
        checks.check_attention_inputs(query, key, value)
        checks.check_mask("mask", mask, (query.size(0), self.num_heads, query.size(1), key.size(1)))
        B, Lq = query.shape[:2]
        q = self.q_proj(query).view(B, Lq, self.num_heads, self.head_dim).transpose(1, 2)  # [B, H, Lq, hd]
        k, v = self.project_kv(key, value)  # [B, kv_heads, Lk, hd]
        # Each key/value head serves a group of num_heads / num_kv_heads query heads. The repeat is a copy
        # here, for clarity; an efficient kernel indexes the shared head instead of copying it.
        groups = self.num_heads // self.num_kv_heads
        if groups > 1:  # (one head per group is multi-head attention: nothing to share, nothing to copy)
            k, v = repeat_kv_heads(k, groups), repeat_kv_heads(v, groups)  # [B, H, Lk, hd]
        dropout_p = self.dropout if self.training else 0.0
        out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p=dropout_p)
        out = out.transpose(1, 2).reshape(B, Lq, self.d_model)  # concatenate the heads
        return self.out_proj(out), weights

    @classmethod
    def from_multi_head(cls, mha):
        """Multi-head attention as a ``GroupedQueryAttention`` (``num_kv_heads == num_heads``), weights copied.

        >>> import torch
        >>> mha = MultiHeadAttention(8, 2)
        >>> x = torch.randn(1, 3, 8)
        >>> torch.equal(GroupedQueryAttention.from_multi_head(mha)(x, x, x)[0], mha(x, x, x)[0])
        True
        """
        if not isinstance(mha, MultiHeadAttention):
            raise TypeError(f"mha: expected a qkv.attention.MultiHeadAttention, got {type(mha).__name__}")
        new = cls(mha.d_model, mha.num_heads, mha.num_heads, dropout=mha.dropout, bias=mha.q_proj.bias is not None)
        new.to(device=mha.q_proj.weight.device, dtype=mha.q_proj.weight.dtype)
        new.load_state_dict(mha.state_dict())  # the same four projections, of the same shapes
        return new.train(mha.training)


def blockwise_attention(query, key, value, mask=None, block_size=128, scale=None):
    """Exact attention computed over blocks of keys with an online softmax, the idea of FlashAttention.

    The scores of one block of ``block_size`` keys exist at a time, never the whole ``[Lq, Lk]`` matrix.
    Each query row keeps a running maximum ``m`` of the scores seen so far, a running sum ``l`` of
    ``exp(score - m)`` and a running output ``acc`` (the values weighted by the same exponentials).
    A new block with a larger maximum ``m'`` rescales the old sum and output by ``exp(m - m')``, which
    makes them what they would have been had ``m'`` been subtracted from the start; at the end
    ``acc / l`` is the softmax-weighted sum of the values, equal to ordinary attention up to rounding
    (Milakov and Gimelshein 2018; Dao et al. 2022). FlashAttention does this inside a GPU's on-chip
    memory, which is where its speed comes from; in plain PyTorch it shows only the arithmetic and the
    memory (a forward without autograd holds ``[Lq, block_size]`` scores; with autograd every block's
    weights are kept for the backward pass, which the real kernel recomputes instead).

    Args:
        query: ``[..., Lq, d_k]``. key: ``[..., Lk, d_k]``. value: ``[..., Lk, d_v]``.
        mask: optional boolean mask broadcastable to ``[..., Lq, Lk]``; ``True`` = may attend.
        block_size: keys per block. scale: factor on ``Q K^T``; default ``1 / sqrt(d_k)``.

    Returns:
        output ``[..., Lq, d_v]`` (no weights: they are never all stored). A query whose keys are all
        masked gets a zero output, as in :func:`scaled_dot_product_attention`.

    >>> import torch
    >>> q, k, v = torch.randn(2, 5, 4), torch.randn(2, 7, 4), torch.randn(2, 7, 3)
    >>> torch.allclose(blockwise_attention(q, k, v, block_size=3), scaled_dot_product_attention(q, k, v)[0], atol=1e-6)
    True
    """
    checks.check_attention_inputs(query, key, value)
    checks.check_positive_int("block_size", block_size)
    if scale is not None:
        checks.check_number("scale", scale)
    batch = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2])
    scores_shape = (*batch, query.size(-2), key.size(-2))
    checks.check_mask("mask", mask, scores_shape)
    if scale is None:
        scale = 1.0 / math.sqrt(query.size(-1))
    dtype = torch.promote_types(query.dtype, torch.float32)  # as scaled_dot_product_attention
    q = query.to(dtype) * scale
    if mask is not None:
        mask = mask.expand(scores_shape)  # a view: slicing a broadcast (size-1) key axis would lose keys
    neg_inf = float("-inf")
    m = torch.full((*batch, query.size(-2), 1), neg_inf, dtype=dtype, device=query.device)  # running max
    l = torch.zeros_like(m)  # running sum of exp(score - m)  # noqa: E741
    acc = torch.zeros((*batch, query.size(-2), value.size(-1)), dtype=dtype, device=query.device)
    for start in range(0, key.size(-2), block_size):
        k = key[..., start : start + block_size, :].to(dtype)  # [..., b, d_k]
        v = value[..., start : start + block_size, :].to(dtype)  # [..., b, d_v]
        s = q @ k.transpose(-2, -1)  # [..., Lq, b]: the only scores that exist at this moment
        if mask is not None:
            s = s.masked_fill(~mask[..., start : start + block_size], neg_inf)
        m_new = torch.maximum(m, s.amax(-1, keepdim=True))  # [..., Lq, 1]
        # A row with no visible key yet has m_new = -inf; subtract 0 there so exp(-inf) = 0, not exp(nan).
        shift = m_new.masked_fill(m_new == neg_inf, 0.0)
        p = torch.exp(s - shift)  # [..., Lq, b], exp of at most 0: no overflow
        correction = torch.exp(m - shift)  # rescales what was summed under the old maximum
        l = l * correction + p.sum(-1, keepdim=True)  # noqa: E741
        acc = acc * correction + p @ v
        m = m_new
    # l == 0 only where every key was masked; acc is 0 there too, and the output is 0 (not 0/0).
    return (acc / l.masked_fill(l == 0, 1.0)).to(query.dtype)
