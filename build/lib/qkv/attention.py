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
