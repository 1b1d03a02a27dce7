"""qkv.positional: sinusoidal, learned, rotary, ALiBi and T5 relative-position biases."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qkv.attention import scaled_dot_product_attention
from qkv.masks import causal_mask
from qkv.positional import (
    LearnedPositionalEmbedding,
    RelativePositionBias,
    RelativePositionEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    alibi_bias,
    alibi_slopes,
    relative_position_bucket,
    sinusoidal_encoding,
)

from .reference import assert_close

# ----------------------------------------------------------------------------------------------------
# sinusoidal


def test_sinusoidal_encoding_matches_the_formula_of_the_paper():
    max_len, d_model = 7, 6
    pe = sinusoidal_encoding(max_len, d_model, dtype=torch.float64)
    assert pe.shape == (max_len, d_model)
    for pos in range(max_len):
        for i in range(d_model // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            assert abs(pe[pos, 2 * i].item() - math.sin(angle)) < 1e-12
            assert abs(pe[pos, 2 * i + 1].item() - math.cos(angle)) < 1e-12
    assert sinusoidal_encoding(3, 4).dtype == torch.float32


def shift_matrix(k, d_model):
    """M_k: block-diagonal rotations by k * frequency_i; built from k alone, no position involved."""
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        a = k / 10000 ** (2 * i / d_model)
        m[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor(
            [[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]], dtype=torch.float64
        )
    return m


@settings(max_examples=25, deadline=None)
@given(k=st.integers(0, 60), d_half=st.integers(1, 8))
def test_sinusoidal_shift_is_a_linear_map_independent_of_position(k, d_half):
    d_model, n = 2 * d_half, 64
    pe = sinusoidal_encoding(n + k, d_model, dtype=torch.float64)
    m_k = shift_matrix(k, d_model)
    # PE(pos + k) = M_k PE(pos) for every position, with the same M_k (built from k alone).
    assert_close(pe[k : k + n], pe[:n] @ m_k.T)
    # M_k is a rotation: it keeps lengths, so every position's encoding has the same norm.
    assert_close(m_k @ m_k.T, torch.eye(d_model, dtype=torch.float64))


def test_sinusoidal_module_adds_the_table_and_checks_length():
    module = SinusoidalPositionalEncoding(d_model=6, max_len=5)
    x = torch.randn(2, 4, 6)
    assert_close(module(x), x + sinusoidal_encoding(5, 6)[:4])
    assert "pe" not in module.state_dict()  # recomputable, not saved
    with pytest.raises(ValueError, match=r"x: sequence length 6 is longer than the positional table \(max_len=5\)"):
        module(torch.randn(2, 6, 6))


def test_sinusoidal_module_follows_dtype_and_applies_dropout_in_training_only():
    module = SinusoidalPositionalEncoding(d_model=4, max_len=8, dropout=0.5).double()
    x = torch.zeros(3, 8, 4, dtype=torch.float64)
    assert module.pe.dtype == torch.float64
    module.eval()
    assert_close(module(x), x + module.pe)
    module.train()
    torch.manual_seed(0)
    y = module(x)
    kept = y != 0
    assert (~kept).any() and kept.any()
    assert_close(y[kept], 2 * module.pe.expand(3, -1, -1)[kept])


# ----------------------------------------------------------------------------------------------------
# learned


def test_learned_positional_embedding_adds_one_trained_row_per_position():
    torch.manual_seed(1)
    module = LearnedPositionalEmbedding(d_model=4, max_len=10)
    x = torch.randn(2, 3, 4)
    y = module(x)
    assert_close(y, x + module.embedding.weight[:3])
    y.sum().backward()
    grad = module.embedding.weight.grad
    assert torch.equal(grad[:3], torch.full((3, 4), 2.0)) and torch.equal(grad[3:], torch.zeros(7, 4))
    with pytest.raises(ValueError, match=r"x: sequence length 11 is longer than the positional table \(max_len=10\)"):
        module(torch.randn(1, 11, 4))


# ----------------------------------------------------------------------------------------------------
# rotary


def rope_reference(x, positions, base=10000.0):
    """RoPE as complex multiplication: pair (x[2i], x[2i+1]) is the number x[2i] + j x[2i+1]."""
    d = x.size(-1)
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    z = torch.complex(x[..., 0::2], x[..., 1::2])
    z = z * torch.polar(torch.ones_like(theta), positions[:, None].double() * theta)
    return torch.stack((z.real, z.imag), dim=-1).flatten(-2)


def test_rope_matches_complex_rotation_and_keeps_norms():
    torch.manual_seed(2)
    rope = RotaryEmbedding(head_dim=8)
    x = torch.randn(2, 3, 5, 8, dtype=torch.float64)
    y = rope.rotate(x)
    assert_close(y, rope_reference(x, torch.arange(5)))
    assert_close(y.norm(dim=-1), x.norm(dim=-1))
    assert_close(y[..., 0, :], x[..., 0, :])  # position 0 is not rotated
    q, k = rope(x, x[..., :3, :])
    assert_close(q, y)
    assert_close(k, y[..., :3, :])


def test_rope_float32_matches_float64_reference():
    torch.manual_seed(3)
    rope = RotaryEmbedding(head_dim=16)
    x = torch.randn(4, 50, 16)
    assert_close(rope.rotate(x), rope_reference(x.double(), torch.arange(50)).float())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(0, 500), n=st.integers(0, 500), shift=st.integers(-200, 500))
def test_rope_score_depends_only_on_the_offset(seed, m, n, shift):
    shift = max(shift, -min(m, n))  # keep positions non-negative
    gen = torch.Generator().manual_seed(seed)
    rope = RotaryEmbedding(head_dim=8)
    q, k = torch.randn(1, 8, generator=gen, dtype=torch.float64), torch.randn(1, 8, generator=gen, dtype=torch.float64)

    def score(a, b):
        return (rope.rotate(q, torch.tensor([a])) * rope.rotate(k, torch.tensor([b]))).sum()

    assert_close(score(m + shift, n + shift), score(m, n))
    assert_close(score(m, n), score(0, n - m) if n >= m else score(m - n, 0))


# ----------------------------------------------------------------------------------------------------
# ALiBi


def test_alibi_slopes_follow_the_paper():
    assert torch.equal(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    # 6 heads: the 4-head slopes 2^-2, 2^-4, 2^-6, 2^-8, then every other 8-head slope 2^-1, 2^-3.
    assert torch.equal(alibi_slopes(6), torch.tensor([2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8, 2.0**-1, 2.0**-3]))


@settings(max_examples=30, deadline=None)
@given(heads=st.integers(1, 12), q_len=st.integers(1, 9), k_len=st.integers(1, 9))
def test_alibi_bias_depends_only_on_the_offset(heads, q_len, k_len):
    bias = alibi_bias(heads, q_len, k_len)
    assert bias.shape == (heads, q_len, k_len)
    slopes = alibi_slopes(heads)
    for i in range(q_len):
        for j in range(k_len):
            assert_close(bias[:, i, j], -slopes * abs(i - j))


def test_alibi_with_causal_mask_equals_the_papers_signed_bias():
    torch.manual_seed(4)
    heads, L = 4, 6
    q, k, v = torch.randn(2, heads, L, 8), torch.randn(2, heads, L, 8), torch.randn(2, heads, L, 8)
    signed = alibi_slopes(heads)[:, None, None] * (torch.arange(L)[None, :] - torch.arange(L)[:, None])
    out, weights = scaled_dot_product_attention(q, k, v, causal_mask(L), bias=alibi_bias(heads, L, L))
    ref_out, ref_weights = scaled_dot_product_attention(q, k, v, causal_mask(L), bias=signed.float())
    assert_close(weights, ref_weights)
    assert_close(out, ref_out)


# ----------------------------------------------------------------------------------------------------
# T5 relative-position bias


def t5_bucket_reference(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    """Hugging Face T5Attention._relative_position_bucket, copied as the reference."""
    relative_buckets = 0
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    relative_position_if_large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    relative_position_if_large = torch.min(
        relative_position_if_large, torch.full_like(relative_position_if_large, num_buckets - 1)
    )
    relative_buckets += torch.where(is_small, relative_position, relative_position_if_large)
    return relative_buckets


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_buckets,max_distance", [(32, 128), (8, 20), (16, 64)])
def test_relative_position_bucket_matches_t5(bidirectional, num_buckets, max_distance):
    offsets = torch.arange(-400, 401)
    ours = relative_position_bucket(offsets, bidirectional, num_buckets, max_distance)
    assert torch.equal(ours, t5_bucket_reference(offsets, bidirectional, num_buckets, max_distance))
    assert ours.min() >= 0 and ours.max() < num_buckets


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), q_len=st.integers(1, 40), k_len=st.integers(1, 40),
       bidirectional=st.booleans())
def test_relative_position_bias_depends_only_on_the_offset(seed, q_len, k_len, bidirectional):
    torch.manual_seed(seed)
    rel = RelativePositionBias(num_heads=3, num_buckets=16, max_distance=32, bidirectional=bidirectional)
    bias = rel(q_len, k_len)
    assert bias.shape == (3, q_len, k_len)
    # Constant along every diagonal (a Toeplitz matrix per head)...
    assert torch.equal(bias[:, 1:, 1:], bias[:, :-1, :-1])
    # ...and equal to the learned entry of the offset's bucket.
    i, j = q_len - 1, k_len - 1
    bucket = relative_position_bucket(torch.tensor(j - i), bidirectional, 16, 32)
    assert torch.equal(bias[:, i, j], rel.relative_attention_bias.weight[bucket])


def test_relative_position_bias_is_trainable_through_attention():
    torch.manual_seed(5)
    rel = RelativePositionBias(num_heads=2, num_buckets=8, max_distance=16)
    q, k, v = torch.randn(1, 2, 4, 6), torch.randn(1, 2, 4, 6), torch.randn(1, 2, 4, 6)
    out, _ = scaled_dot_product_attention(q, k, v, bias=rel(4, 4))
    out.square().sum().backward()
    grad = rel.relative_attention_bias.weight.grad
    used = relative_position_bucket(torch.arange(-3, 4), True, 8, 16).unique()
    assert grad[used].abs().sum() > 0
    unused = torch.ones(8, dtype=torch.bool)
    unused[used] = False
    assert torch.equal(grad[unused], torch.zeros(int(unused.sum()), 2))


def test_positional_modules_take_d_model_then_max_len():
    # one argument order across the family: (d_model, max_len)
    assert LearnedPositionalEmbedding(4, 10).embedding.weight.shape == (10, 4)
    assert SinusoidalPositionalEncoding(4, 10).pe.shape == (10, 4)


def alibi_reference_slopes(n):
    """get_slopes from the ALiBi authors' code (ofirpress/attention_with_linear_biases), as the reference."""

    def get_slopes_power_of_2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        ratio = start
        return [start * ratio**i for i in range(n)]

    if math.log2(n).is_integer():
        return get_slopes_power_of_2(n)
    closest_power_of_2 = 2 ** math.floor(math.log2(n))
    return get_slopes_power_of_2(closest_power_of_2) + alibi_reference_slopes(2 * closest_power_of_2)[0::2][
        : n - closest_power_of_2
    ]


@pytest.mark.parametrize("heads", [1, 2, 3, 4, 6, 8, 12, 16, 24])
def test_alibi_slopes_match_the_authors_code(heads):
    assert_close(alibi_slopes(heads), torch.tensor(alibi_reference_slopes(heads)))  # float32, as qkv returns it


def test_alibi_slopes_for_8_and_12_heads_by_the_papers_formula():
    # 8 heads: 1/2, 1/4, ..., 1/256 (the paper's section 3).
    assert_close(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    # 12 heads: the 8 slopes above, then the odd powers 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5 of the 16-head sequence.
    expected = [2.0 ** -(i + 1) for i in range(8)] + [2.0 ** -(0.5 + i) for i in range(4)]
    assert_close(alibi_slopes(12), torch.tensor(expected))


# ----------------------------------------------------------------------------------------------------
# Shaw et al. relative position embeddings


def shaw_scores_reference(q, k, table, max_distance):
    """e_ij = q_i . (k_j + a_clip(j - i)) / sqrt(d), one pair at a time (Shaw et al. 2018, eq. 4)."""
    lq, lk, d = q.size(0), k.size(0), q.size(1)
    out = torch.empty(lq, lk, dtype=q.dtype)
    for i in range(lq):
        for j in range(lk):
            a = table[max(-max_distance, min(max_distance, j - i)) + max_distance]
            out[i, j] = q[i] @ (k[j] + a) / math.sqrt(d)
    return out


def test_shaw_relative_scores_match_the_papers_equation():
    torch.manual_seed(6)
    rel = RelativePositionEmbedding(head_dim=4, max_distance=3).double()
    q, k = torch.randn(7, 4, dtype=torch.float64), torch.randn(9, 4, dtype=torch.float64)
    ours = q @ k.T / 2.0 + rel.score_bias(q, 9)
    assert_close(ours, shaw_scores_reference(q, k, rel.embedding.weight.detach(), 3))


def test_shaw_relative_embedding_shares_one_vector_beyond_the_clip_and_is_trained():
    torch.manual_seed(7)
    rel = RelativePositionEmbedding(head_dim=4, max_distance=2)
    table = rel(5, 5)
    assert table.shape == (5, 5, 4)
    assert torch.equal(table[0, 4], table[0, 2]) and torch.equal(table[4, 0], table[2, 0])  # clipped
    assert torch.equal(table[1:, 1:], table[:-1, :-1])  # depends on j - i only
    q = torch.randn(2, 3, 5, 4)
    rel.score_bias(q, 5).sum().backward()
    assert rel.embedding.weight.grad.abs().sum() > 0
    assert len(list(rel.parameters())) == 1 and rel.embedding.weight.numel() == 5 * 4


def test_position_interpolation_rotates_position_m_as_far_as_position_m_times_the_scale():
    torch.manual_seed(0)
    x = torch.randn(2, 12, 8, dtype=torch.float64)
    plain, squeezed = RotaryEmbedding(8), RotaryEmbedding(8, position_scale=0.25)
    positions = torch.arange(12)
    assert torch.equal(squeezed.rotate(x), plain.rotate(x, positions * 0.25))
    assert torch.equal(RotaryEmbedding(8, position_scale=1.0).rotate(x), plain.rotate(x))  # the default is RoPE
    assert not torch.allclose(squeezed.rotate(x), plain.rotate(x))
    # Still relative: shifting both positions by s changes no score.
    q, k = squeezed.rotate(x[:1], positions), squeezed.rotate(x[1:], positions)
    q2, k2 = squeezed.rotate(x[:1], positions + 5), squeezed.rotate(x[1:], positions + 5)
    torch.testing.assert_close(q @ k.transpose(-2, -1), q2 @ k2.transpose(-2, -1), atol=1e-10, rtol=0)
