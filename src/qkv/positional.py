"""Positional information: attention itself is blind to order, so positions must be added.

- ``sinusoidal_encoding`` / ``SinusoidalPositionalEncoding``: the fixed sines and cosines of the paper,
  added to the token embeddings.
- ``LearnedPositionalEmbedding``: one trained vector per position (BERT, GPT-2).
- ``RotaryEmbedding``: RoPE rotates queries and keys so that their dot product depends only on the
  offset between positions.
- ``alibi_bias``: ALiBi adds ``-slope * distance`` to the scores, one slope per head.
- ``RelativePositionBias``: T5's learned bias per head and per bucketed offset, added to the scores.

The last two return biases ``[heads, Lq, Lk]`` for the ``bias`` argument of
``qkv.attention.scaled_dot_product_attention``.
"""

import math

import torch
from torch import nn

from qkv import checks


def sinusoidal_encoding(max_len, d_model, dtype=torch.float32):
    """The sinusoidal table of "Attention Is All You Need", section 3.5.

    ``PE[pos, 2i] = sin(pos / 10000^(2i / d_model))`` and ``PE[pos, 2i + 1] = cos(...)`` with the same
    angle. Each pair of columns turns at its own frequency, so ``PE[pos + k]`` is ``PE[pos]`` rotated by
    angles that depend on ``k`` only: a fixed linear map ``M_k`` reaches position ``pos + k`` from ``pos``.

    Unlike the modules, whose arguments are ``(d_model, max_len)``, this function takes the shape of the
    table it returns, rows first (as ``torch.zeros`` does).

    Returns:
        ``[max_len, d_model]`` (``d_model`` must be even: columns come in sine/cosine pairs).

    >>> sinusoidal_encoding(3, 4)
    tensor([[ 0.0000,  1.0000,  0.0000,  1.0000],
            [ 0.8415,  0.5403,  0.0100,  0.9999],
            [ 0.9093, -0.4161,  0.0200,  0.9998]])
    """
    checks.check_positive_int("max_len", max_len)
    checks.check_positive_int("d_model", d_model)
    checks.check_divisible("d_model", d_model, "sine/cosine pairs", 2)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype: expected a floating-point torch.dtype, got {dtype!r}")
    # Computed in float64 so that the float32 table is correctly rounded even at large positions.
    position = torch.arange(max_len, dtype=torch.float64)[:, None]  # [max_len, 1]
    frequency = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # [d_model/2]
    angle = position * frequency  # [max_len, d_model/2]
    pe = torch.empty(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.to(dtype)


def _check_sequence(name, x, d_model, max_len):
    """The checks shared by the two modules above: ``x`` is ``[B, T, d_model]`` with ``0 < T <= max_len``."""
    checks.check_float(name, x)
    checks.check_ndim(name, x, 3, "[batch, length, d_model]")
    checks.check_size(name, x, -1, d_model, "d_model")
    checks.check_nonempty(name, x, 1)
    checks.check_max_length(name, x, max_len)


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the sinusoidal table to a batch of embeddings, then applies dropout (as in the paper).

    Args:
        d_model: embedding size. max_len: length of the table. dropout: dropout on the sum.

    Shapes: ``forward(x [B, T, d_model]) -> [B, T, d_model]``, with ``T <= max_len``.

    >>> pe = SinusoidalPositionalEncoding(d_model=4, max_len=10)
    >>> pe(torch.zeros(1, 2, 4))[0, 1]
    tensor([0.8415, 0.5403, 0.0100, 0.9999])
    """

    def __init__(self, d_model, max_len=5000, dropout=0.0):
        super().__init__()
        checks.check_probability("dropout", dropout)
        self.d_model = d_model
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        # A buffer moves with .to(device) but is not a parameter; it is not saved, as it is recomputable.
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)

    def forward(self, x, start=0):
        """Add the rows ``start .. start + T - 1`` of the table (``start > 0``: incremental decoding)."""
        _check_sequence("x", x, self.d_model, self.max_len)
        checks.check_int("start", start, low=0)
        if start + x.size(1) > self.max_len:
            raise ValueError(f"start: expected start + length <= max_len = {self.max_len}, "
                             f"got {start} + {x.size(1)}")
        return self.dropout(x + self.pe[start : start + x.size(1)])


class LearnedPositionalEmbedding(nn.Module):
    """One learned vector per position, added to the embeddings (as in BERT and GPT-2).

    Unlike the sinusoidal table it cannot go past ``max_len``. The vectors start small
    (normal, std 0.02, as BERT initialises them) so they do not drown the token embeddings.

    Args:
        d_model: embedding size. max_len: number of positions (rows). dropout: dropout on the sum.
        (The same order as :class:`SinusoidalPositionalEncoding`.)

    Shapes: ``forward(x [B, T, d_model]) -> [B, T, d_model]``, with ``T <= max_len``.

    >>> pos = LearnedPositionalEmbedding(d_model=4, max_len=16)
    >>> pos(torch.zeros(2, 3, 4)).shape, pos.embedding.weight.shape
    (torch.Size([2, 3, 4]), torch.Size([16, 4]))
    """

    def __init__(self, d_model, max_len, dropout=0.0):
        super().__init__()
        checks.check_positive_int("d_model", d_model)
        checks.check_positive_int("max_len", max_len)
        checks.check_probability("dropout", dropout)
        self.d_model = d_model
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        _check_sequence("x", x, self.d_model, self.max_len)
        return self.dropout(x + self.embedding.weight[: x.size(1)])


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE, Su et al. 2021), applied to queries and keys.

    Each pair of features ``(x[2i], x[2i+1])`` of a vector at position ``m`` is rotated by the angle
    ``m * theta_i`` with ``theta_i = base^(-2i / head_dim)``: the paper's interleaved pairing, the
    same pairs as the sinusoidal table. (GPT-NeoX and Llama pair feature ``i`` with ``i + head_dim/2``
    instead: the same method up to a fixed permutation of the features, that is, of the rows of the
    query and key projections.) Since rotations compose,
    ``<R_m q, R_n k> = <q, R_(n-m) k>``: the score depends only on the offset ``n - m``.

    Nothing is learned and there is no table, so any length works.

    ``position_scale`` multiplies the positions before the rotation. The default 1 is RoPE itself;
    position interpolation (Chen et al. 2023) sets it to ``L_train / L_new`` to run a model trained on
    ``L_train`` tokens at ``L_new > L_train``: every position then falls inside the range of angles seen
    in training (position ``m`` turns as far as ``m * L_train / L_new`` did), instead of beyond it.

    Shapes: ``forward(query [..., Lq, head_dim], key [..., Lk, head_dim])`` returns both rotated, with
    positions ``0..L-1``; ``rotate(x, positions)`` takes explicit positions ``[L]``.

    >>> rope = RotaryEmbedding(head_dim=2)
    >>> rope.rotate(torch.tensor([[1.0, 0.0]]), positions=torch.tensor([1]))  # angle 1 rad
    tensor([[0.5403, 0.8415]])
    """

    def __init__(self, head_dim, base=10000.0, position_scale=1.0):
        super().__init__()
        checks.check_positive_int("head_dim", head_dim)
        checks.check_divisible("head_dim", head_dim, "rotated pairs", 2)
        self.head_dim = head_dim
        self.base = checks.check_number("base", base, low=0.0, low_open=True)  # base^(-2i/d) needs base > 0
        self.position_scale = checks.check_number("position_scale", position_scale, low=0.0, low_open=True)

    def rotate(self, x, positions=None):
        """Rotate ``x [..., L, head_dim]`` for positions ``[L]`` (default ``0..L-1``)."""
        checks.check_float("x", x)
        checks.check_min_ndim("x", x, 2, "[..., length, head_dim]")
        checks.check_size("x", x, -1, self.head_dim, "head_dim")
        if positions is None:
            positions = torch.arange(x.size(-2), device=x.device)
        checks.check_tensor("positions", positions)
        if positions.is_complex() or positions.dtype == torch.bool:
            raise TypeError(f"positions: expected an integer or floating-point tensor, got {positions.dtype}")
        checks.check_shape("positions", positions, (x.size(-2),), "[length of x]")
        # Angles in at least float32 (float64 for float64 inputs), then cast back to x's dtype.
        dtype = torch.promote_types(x.dtype, torch.float32)
        theta = self.base ** (-torch.arange(0, self.head_dim, 2, device=x.device, dtype=dtype) / self.head_dim)
        # position_scale < 1 interpolates: positions are squeezed into the range seen in training.
        angle = (positions.to(dtype) * self.position_scale)[:, None] * theta  # [L, head_dim/2]
        cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]  # the two coordinates of each pair
        rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)  # [..., L, head_dim/2, 2]
        return rotated.flatten(-2)  # interleave the pairs back: [..., L, head_dim]

    def forward(self, query, key):
        return self.rotate(query), self.rotate(key)


def alibi_slopes(num_heads):
    """The ALiBi slope of each head: a geometric sequence starting at ``2^(-8 / num_heads)``.

    For a number of heads that is not a power of two, the paper's recipe: the slopes for the nearest
    lower power of two, then every other slope of the next power of two.

    >>> alibi_slopes(4)
    tensor([0.2500, 0.0625, 0.0156, 0.0039])
    """
    checks.check_positive_int("num_heads", num_heads)

    def geometric(n):
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    closest = 2 ** math.floor(math.log2(num_heads))
    slopes = geometric(closest) + geometric(2 * closest)[0::2][: num_heads - closest]
    return torch.tensor(slopes)


def alibi_bias(num_heads, q_len, k_len, device=None):
    """ALiBi (Press et al. 2022): add ``-slope_h * |i - j|`` to the score of query ``i`` and key ``j``.

    Nearby keys are favoured, more steeply in heads with a larger slope; nothing is learned. On the
    keys a causal mask allows (``j <= i``) this equals the paper's ``slope_h * (j - i)``; taking the
    absolute distance also makes it usable without a causal mask. Query ``i`` and key ``j`` both count
    from position 0.

    Returns:
        ``[num_heads, q_len, k_len]`` float32, which broadcasts against scores ``[B, num_heads, q_len, k_len]``.

    >>> alibi_bias(2, 3, 3)[0]
    tensor([[-0.0000, -0.0625, -0.1250],
            [-0.0625, -0.0000, -0.0625],
            [-0.1250, -0.0625, -0.0000]])
    """
    checks.check_positive_int("num_heads", num_heads)
    checks.check_positive_int("q_len", q_len)
    checks.check_positive_int("k_len", k_len)
    distance = (torch.arange(k_len, device=device)[None, :] - torch.arange(q_len, device=device)[:, None]).abs()
    return -alibi_slopes(num_heads).to(device)[:, None, None] * distance  # [heads, q_len, k_len]


def relative_position_bucket(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    """T5's bucketing of offsets ``key_position - query_position`` into ``num_buckets`` integers.

    Small offsets get a bucket each; larger ones share logarithmically wider buckets up to
    ``max_distance``, beyond which all offsets share the last bucket. With ``bidirectional=True`` half
    of the buckets are for keys after the query and half for keys before it; otherwise (a causal
    decoder) only keys before or at the query get distinct buckets.

    >>> relative_position_bucket(torch.tensor([-3, -1, 0, 1, 3, 100]), num_buckets=8, max_distance=16)
    tensor([2, 1, 0, 5, 6, 7])
    """
    checks.check_integer("relative_position", relative_position)
    _check_buckets(num_buckets, max_distance, bidirectional)
    bucket = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        bucket = bucket + (relative_position > 0).long() * num_buckets  # keys after the query
        distance = relative_position.abs()
    else:
        distance = (-relative_position).clamp(min=0)  # keys after the query all land in bucket 0
    max_exact = num_buckets // 2
    # Distances in [max_exact, max_distance) are spread over the remaining buckets on a log scale.
    log_ratio = torch.log(distance.clamp(min=max_exact).float() / max_exact) / math.log(max_distance / max_exact)
    large = (max_exact + (log_ratio * (num_buckets - max_exact)).long()).clamp(max=num_buckets - 1)
    return bucket + torch.where(distance < max_exact, distance, large)


def _check_buckets(num_buckets, max_distance, bidirectional):
    """Enough buckets for the exact half (at least 2 per direction), and ``max_distance`` past it."""
    checks.check_flag("bidirectional", bidirectional)
    checks.check_int("num_buckets", num_buckets, low=4 if bidirectional else 2)
    max_exact = (num_buckets // 2 if bidirectional else num_buckets) // 2
    checks.check_int("max_distance", max_distance, low=max_exact + 1)


class RelativePositionBias(nn.Module):
    """T5-style relative-position bias (Raffel et al. 2020): one learned scalar per head and per bucket.

    The score of query ``i`` and key ``j`` gets ``bias[h, bucket(j - i)]`` added (see
    ``relative_position_bucket``); it depends only on the offset ``j - i``. T5 chose scalar biases with
    log-spaced buckets over Shaw et al.'s (2018) clipped relative vectors: cheaper, and far offsets
    still differ.

    Args:
        num_heads: one bias table column per head. num_buckets, max_distance, bidirectional: as in
            ``relative_position_bucket`` (T5 uses 32, 128, and bidirectional in the encoder).

    Shapes: ``forward(q_len, k_len) -> [num_heads, q_len, k_len]``.

    >>> rel = RelativePositionBias(num_heads=2)
    >>> rel(3, 5).shape
    torch.Size([2, 3, 5])
    """

    def __init__(self, num_heads, num_buckets=32, max_distance=128, bidirectional=True):
        super().__init__()
        checks.check_positive_int("num_heads", num_heads)
        _check_buckets(num_buckets, max_distance, bidirectional)
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bidirectional = bidirectional
        self.relative_attention_bias = nn.Embedding(num_buckets, num_heads)  # the name T5 uses

    def forward(self, q_len, k_len):
        checks.check_positive_int("q_len", q_len)
        checks.check_positive_int("k_len", k_len)
        device = self.relative_attention_bias.weight.device
        offset = torch.arange(k_len, device=device)[None, :] - torch.arange(q_len, device=device)[:, None]
        bucket = relative_position_bucket(offset, self.bidirectional, self.num_buckets, self.max_distance)
        return self.relative_attention_bias(bucket).permute(2, 0, 1)  # [q_len, k_len, heads] -> [heads, ...]


class RelativePositionEmbedding(nn.Module):
    """Shaw et al.'s (2018) relative positions: a learned vector per clipped offset, added to the keys.

    The score of query ``i`` and key ``j`` becomes ``q_i . (k_j + a[clip(j - i)]) / sqrt(head_dim)``,
    where ``clip`` limits the offset to ``[-max_distance, max_distance]``: ``2 max_distance + 1``
    vectors, whatever the length, and every offset beyond the clip shares the vector at the clip.
    (The paper also adds a second such table to the values; this is the keys' table, shared by all
    heads as in the paper.)

    Args:
        head_dim: size of queries and keys. max_distance: the clipping distance (the paper's ``k``).

    Shapes: ``forward(q_len, k_len) -> [q_len, k_len, head_dim]`` (the vectors ``a_ij``);
    ``score_bias(query [..., Lq, head_dim], k_len) -> [..., Lq, k_len]``, the term
    ``q_i . a_ij / sqrt(head_dim)`` for the ``bias`` argument of
    :func:`qkv.attention.scaled_dot_product_attention`.

    >>> rel = RelativePositionEmbedding(head_dim=4, max_distance=2)
    >>> rel(3, 5).shape, rel.embedding.weight.shape
    (torch.Size([3, 5, 4]), torch.Size([5, 4]))
    >>> torch.equal(rel(1, 10)[0, 9], rel(1, 10)[0, 2])   # offsets 9 and 2 are both clipped to 2
    True
    """

    def __init__(self, head_dim, max_distance=16):
        super().__init__()
        checks.check_positive_int("head_dim", head_dim)
        checks.check_positive_int("max_distance", max_distance)
        self.head_dim = head_dim
        self.max_distance = max_distance
        self.embedding = nn.Embedding(2 * max_distance + 1, head_dim)  # offsets -max_distance..max_distance

    def forward(self, q_len, k_len):
        checks.check_positive_int("q_len", q_len)
        checks.check_positive_int("k_len", k_len)
        device = self.embedding.weight.device
        offset = torch.arange(k_len, device=device)[None, :] - torch.arange(q_len, device=device)[:, None]
        return self.embedding(offset.clamp(-self.max_distance, self.max_distance) + self.max_distance)

    def score_bias(self, query, k_len):
        """``q_i . a_ij / sqrt(head_dim)`` for every query ``i`` and key ``j``: ``[..., Lq, k_len]``."""
        checks.check_float("query", query)
        checks.check_min_ndim("query", query, 2, "[..., length, head_dim]")
        checks.check_size("query", query, -1, self.head_dim, "head_dim")
        table = self(query.size(-2), k_len)  # [Lq, Lk, head_dim]
        return torch.einsum("...id,ijd->...ij", query, table) / math.sqrt(self.head_dim)
