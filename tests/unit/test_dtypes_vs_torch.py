"""qkv against PyTorch in every floating dtype, at large magnitudes and with masks expressed as biases.

Property tests (hypothesis) draw shapes, dtypes (float16, bfloat16, float32, float64), magnitudes and
mask kinds; the tolerance is :func:`reference.tolerance`, derived from the dtype's precision and the size
of the reduction, not tuned. Edge cases follow: fully masked rows however expressed, length 1, batch 1.
"""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from qkv.attention import MultiHeadAttention, masked_softmax, scaled_dot_product_attention
from qkv.masks import padding_mask
from qkv.norms import BatchNorm1d, LayerNorm, RMSNorm
from qkv.positional import alibi_bias
from qkv.transformer import EncoderLayer

from .reference import ALL_DTYPES, tolerance

NEG_INF = float("-inf")
MASKS = ["none", "bool", "bias", "alibi+bias", "full-row-bool", "full-row-bias"]


def _masks(kind, heads, lq, lk, gen):
    """(mask, bias) for qkv and the same thing as PyTorch's attn_mask (bool, or a float to add)."""
    allowed = torch.rand(heads, lq, lk, generator=gen) > 0.3
    allowed[..., 0] = True
    if kind.startswith("full-row"):
        allowed[:, lq // 2] = False  # one query row with every key masked
    neg = torch.zeros(heads, lq, lk).masked_fill(~allowed, NEG_INF)
    if kind == "none":
        return None, None, None
    if kind in ("bool", "full-row-bool"):
        return allowed, None, allowed
    if kind in ("bias", "full-row-bias"):
        return None, neg, neg
    bias = alibi_bias(heads, lq, lk) + neg
    return None, bias, bias


@settings(max_examples=150, deadline=None)
@given(dtype=st.sampled_from(ALL_DTYPES), batch=st.integers(1, 2), heads=st.integers(1, 3), lq=st.integers(1, 6),
       lk=st.integers(1, 6), d=st.sampled_from([1, 4, 8]), magnitude=st.sampled_from([1.0, 10.0, 100.0]),
       kind=st.sampled_from(MASKS), seed=st.integers(0, 2**16))
def test_sdpa_matches_torch_in_every_dtype(dtype, batch, heads, lq, lk, d, magnitude, kind, seed):
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, n, d, generator=gen, dtype=torch.float64) * magnitude for n in (lq, lk, lk))
    mask, bias, attn_mask = _masks(kind, heads, lq, lk, gen)
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    if attn_mask is not None and attn_mask.is_floating_point():
        bias = attn_mask = attn_mask.to(dtype)  # PyTorch wants a float mask in the query's dtype
    ours, _ = scaled_dot_product_attention(q, k, v, mask=mask, bias=bias)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    assert ours.dtype == ref.dtype == dtype
    scores = q.double() @ k.double().transpose(-1, -2) / math.sqrt(d)
    scale = (1 + scores.abs().max().item()) * v.double().abs().max().item()
    torch.testing.assert_close(ours, ref, atol=tolerance(dtype, max(d, lk), scale), rtol=0, equal_nan=False)


def _norm_pair(kind, n, dtype, gen):
    ref = {"layer": nn.LayerNorm(n), "rms": nn.RMSNorm(n), "batch": nn.BatchNorm1d(n)}[kind]
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5 + 1)
    ours = {"layer": LayerNorm(n), "rms": RMSNorm(n), "batch": BatchNorm1d(n)}[kind]
    ours.load_state_dict(ref.state_dict())
    return ours.to(dtype), ref.to(dtype)


def _cancellation(kind, x, module):
    """How much ``x - mean`` amplifies rounding: ``max |x| / sqrt(var + eps)`` (1 for RMSNorm, no mean).

    An error of one unit in ``x - mean`` (``eps * |x|``) becomes ``eps * |x| / std`` in the output.
    """
    if kind == "rms":
        return 1.0
    dims = -1 if kind == "layer" else 0
    x = x.double()
    std = (x.var(dim=dims, unbiased=False, keepdim=True) + module.eps).sqrt()
    return (x.abs() / std).max().item()


@settings(max_examples=150, deadline=None)
@given(dtype=st.sampled_from(ALL_DTYPES), kind=st.sampled_from(["layer", "rms", "batch"]), n=st.integers(1, 16),
       rows=st.integers(2, 5), magnitude=st.sampled_from([1e-2, 1.0, 300.0, 3000.0]), offset=st.sampled_from([0, 1]),
       seed=st.integers(0, 2**16))
def test_norms_match_torch_in_every_dtype(dtype, kind, n, rows, magnitude, offset, seed):
    gen = torch.Generator().manual_seed(seed)
    ours, ref = _norm_pair(kind, n, dtype, gen)
    x = ((torch.randn(rows, n, generator=gen, dtype=torch.float64) + offset) * magnitude).to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nn.RMSNorm: "cannot dispatch to fused implementation"
        expected = ref(x)
    actual = ours(x)
    assert actual.dtype == expected.dtype == dtype
    scale = expected.double().abs().max().item() + _cancellation(kind, x, ours) * ours.weight.abs().max().item()
    torch.testing.assert_close(actual, expected, atol=tolerance(dtype, max(n, rows), scale), rtol=0)
    if kind == "batch":  # the running statistics too (float32 buffers for float32 modules)
        for name in ("running_mean", "running_var"):
            a, b = getattr(ours, name), getattr(ref, name)
            torch.testing.assert_close(a, b, atol=tolerance(dtype, rows, b.double().abs().max()), rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("kind", ["layer", "rms", "batch"])
def test_low_precision_inputs_with_float32_weights_match_torch(dtype, kind):
    gen = torch.Generator().manual_seed(0)
    ours, ref = _norm_pair(kind, 8, torch.float32, gen)
    x = (torch.randn(4, 8, generator=gen) * 300).to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = ref(x)
    actual = ours(x)
    assert actual.dtype == expected.dtype == dtype
    torch.testing.assert_close(actual, expected, atol=tolerance(dtype, 8, expected.detach().abs().max().item()), rtol=0)


def test_the_reported_float16_overflow_is_gone():
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    pairs = (LayerNorm(8), nn.LayerNorm(8)), (RMSNorm(8), nn.RMSNorm(8)), (BatchNorm1d(8), nn.BatchNorm1d(8))
    for ours, ref in pairs:
        y, expected = ours.half()(x.half() * 300), ref.half()(x.half() * 300)
        assert y.abs().max() > 0.5
        torch.testing.assert_close(y, expected, atol=tolerance(torch.float16, 8, 3), rtol=0)


# --- fully masked rows, however expressed


def _full_row_cases():
    q = torch.randn(1, 2, 3, 4, generator=torch.Generator().manual_seed(0))
    bool_mask = torch.ones(3, 3, dtype=torch.bool)
    bool_mask[1] = False
    neg = torch.zeros(3, 3).masked_fill(~bool_mask, NEG_INF)
    return q, {
        "boolean mask": dict(mask=bool_mask),
        "-inf bias": dict(bias=neg),
        "ALiBi + -inf bias": dict(bias=alibi_bias(2, 3, 3) + neg),
        "ALiBi + boolean mask": dict(bias=alibi_bias(2, 3, 3), mask=bool_mask),
        "half the row by the mask, half by the bias": dict(
            mask=torch.tensor([True, True, False]).expand(3, 3),
            bias=torch.tensor([0.0, 0.0, 0.0]).expand(3, 3).clone().index_put_((torch.tensor([1, 1]),
                                                                               torch.tensor([0, 1])),
                                                                              torch.tensor([NEG_INF, NEG_INF]))),
    }


@pytest.mark.parametrize("case", list(_full_row_cases()[1]))
def test_a_fully_masked_row_gives_zeros_like_torch_and_no_nan_gradient(case):
    q, cases = _full_row_cases()
    kw = cases[case]
    q = q.clone().requires_grad_()
    out, w = scaled_dot_product_attention(q, q, q, **kw)
    assert torch.equal(w[..., 1, :], torch.zeros_like(w[..., 1, :]))
    assert torch.equal(out[..., 1, :], torch.zeros(1, 2, 4))
    float_mask = torch.zeros(3, 3) if kw.get("bias") is None else kw["bias"]
    if kw.get("mask") is not None:
        float_mask = float_mask.masked_fill(~kw["mask"], NEG_INF)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, q, q, attn_mask=float_mask), atol=1e-6, rtol=0)
    out.sum().backward()
    assert q.grad.isfinite().all()


def test_masked_softmax_fully_masked_by_scores_alone():
    scores = torch.tensor([[0.0, NEG_INF], [NEG_INF, NEG_INF]], requires_grad=True)
    w = masked_softmax(scores)
    assert w.tolist() == [[1.0, 0.0], [0.0, 0.0]]
    w.sum().backward()
    assert scores.grad.isfinite().all()


def test_mha_and_encoder_layer_with_a_fully_padded_sequence():
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(8, 2, batch_first=True)
    ours = MultiHeadAttention.from_torch(ref)
    x = torch.randn(2, 3, 8)
    mask = padding_mask(torch.tensor([3, 0]), max_len=3)  # the second sequence is all padding
    out, w = ours(x, x, x, mask)
    assert torch.equal(w[1], torch.zeros_like(w[1]))
    torch.testing.assert_close(out[1], ours.out_proj.bias.expand(3, 8))  # attends to nothing: out_proj(0)
    expected = ref(x[:1], x[:1], x[:1], need_weights=False)[0]
    torch.testing.assert_close(out[:1], expected, atol=1e-6, rtol=0)
    layer = EncoderLayer(8, 2, 16, dropout=0.0)
    assert layer(x, mask)[0].isfinite().all()


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("shape", [(1, 1, 1, 4), (1, 2, 1, 4), (3, 1, 5, 2)])
def test_length_one_and_batch_one_match_torch(dtype, shape):
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(*shape, generator=gen).to(dtype)
    k = torch.randn(shape[0], shape[1], 1, shape[3], generator=gen).to(dtype)  # one key
    ours, w = scaled_dot_product_attention(q, k, k)
    assert torch.equal(w.float(), torch.ones_like(w.float()))
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, k), atol=tolerance(dtype, 4, 3), rtol=0)
