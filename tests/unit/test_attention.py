"""qkv.attention against torch.nn.functional.scaled_dot_product_attention and nn.MultiheadAttention."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from qkv.attention import (
    AdditiveAttention,
    MultiHeadAttention,
    additive_attention,
    masked_softmax,
    scaled_dot_product_attention,
)
from qkv.masks import causal_mask, combine_masks, padding_mask

from .reference import DTYPES, assert_close, leaf


def random_mask(*shape, gen=None):
    """A random boolean mask in which every query row allows at least key 0."""
    mask = torch.rand(*shape, generator=gen) > 0.5
    mask[..., 0] = True
    return mask


# ----------------------------------------------------------------------------------------------------
# scaled dot-product attention


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["none", "bool", "causal", "padding"])
def test_sdpa_matches_torch_forward_and_gradients(dtype, kind):
    torch.manual_seed(0)
    B, H, Lq, Lk, d_k, d_v = 2, 3, 5 if kind == "causal" else 4, 5, 8, 6
    q, k, v = leaf(B, H, Lq, d_k, dtype=dtype), leaf(B, H, Lk, d_k, dtype=dtype), leaf(B, H, Lk, d_v, dtype=dtype)
    mask = {
        "none": None,
        "bool": random_mask(B, H, Lq, Lk),
        "causal": causal_mask(Lq),
        "padding": padding_mask(torch.tensor([5, 2])),
    }[kind]

    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    if kind == "causal":
        ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    else:
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close(out, ref)
    assert_close(weights.sum(-1), torch.ones(B, H, Lq, dtype=dtype))

    g = torch.randn_like(out)
    ours = torch.autograd.grad(out, (q, k, v), g)
    theirs = torch.autograd.grad(ref, (q, k, v), g)
    for a, b in zip(ours, theirs):
        assert_close(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_custom_scale_matches_torch(dtype):
    torch.manual_seed(1)
    q, k, v = leaf(2, 3, 4, dtype=dtype), leaf(2, 5, 4, dtype=dtype), leaf(2, 5, 7, dtype=dtype)
    out, _ = scaled_dot_product_attention(q, k, v, scale=0.3)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=0.3))


def test_sdpa_weights_are_the_softmax_of_scaled_scores_and_mix_the_values():
    torch.manual_seed(2)
    q, k, v = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 5, 4, dtype=torch.float64), torch.randn(
        2, 5, 6, dtype=torch.float64
    )
    out, weights = scaled_dot_product_attention(q, k, v)
    expected = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(4), dim=-1)
    assert_close(weights, expected)
    assert_close(out, weights @ v)


def test_fully_masked_row_gives_zero_weights_zero_output_and_finite_gradients():
    torch.manual_seed(3)
    q, k, v = leaf(2, 4, 8, dtype=torch.float64), leaf(2, 5, 8, dtype=torch.float64), leaf(2, 5, 3, dtype=torch.float64)
    mask = random_mask(2, 4, 5)
    mask[0, 2] = False  # query 2 of batch 0 may attend to nothing
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)

    assert torch.equal(weights[0, 2], torch.zeros(5, dtype=torch.float64))
    assert torch.equal(out[0, 2], torch.zeros(3, dtype=torch.float64))
    assert not torch.isnan(out).any()
    # PyTorch 2.13's F.scaled_dot_product_attention makes the same choice (zeros, not NaN).
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close(out, ref)

    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), g)
    for a, b in zip(grads, torch.autograd.grad(ref, (q, k, v), g)):
        assert_close(a, b)
    assert all(torch.isfinite(g).all() for g in grads)
    assert torch.equal(grads[0][0, 2], torch.zeros(8, dtype=torch.float64))  # the dead query gets no gradient


def test_sdpa_additive_bias_matches_torch_float_mask():
    torch.manual_seed(4)
    q, k, v = leaf(2, 3, 4, 8, dtype=torch.float64), leaf(2, 3, 6, 8, dtype=torch.float64), leaf(
        2, 3, 6, 5, dtype=torch.float64
    )
    bias = torch.randn(3, 4, 6, dtype=torch.float64)
    mask = random_mask(2, 1, 4, 6)
    out, _ = scaled_dot_product_attention(q, k, v, mask=mask, bias=bias)
    # PyTorch takes one float mask: the bias plus -inf where our mask says False.
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.masked_fill(~mask, float("-inf")))
    assert_close(out, ref)


def test_sdpa_dropout_zeroes_or_rescales_each_weight_and_output_uses_dropped_weights():
    torch.manual_seed(5)
    q, k, v = torch.randn(4, 6, 8), torch.randn(4, 7, 8), torch.randn(4, 7, 3)
    _, clean = scaled_dot_product_attention(q, k, v)
    out, dropped = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    kept = dropped != 0
    assert 0 < kept.float().mean() < 1
    assert_close(dropped[kept], 2 * clean[kept])
    assert_close(out, dropped @ v)


def test_sdpa_broadcasts_batch_dimensions():
    torch.manual_seed(6)
    q, k, v = torch.randn(2, 3, 4, 8), torch.randn(1, 3, 5, 8), torch.randn(1, 3, 5, 2)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 4, 2) and weights.shape == (2, 3, 4, 5)
    assert_close(out, F.scaled_dot_product_attention(q, k.expand(2, -1, -1, -1), v.expand(2, -1, -1, -1)))


def test_sdpa_passes_gradcheck_with_a_mask():
    torch.manual_seed(7)
    dtype = torch.float64  # gradcheck compares with finite differences, which need float64
    q, k, v = leaf(1, 3, 4, dtype=dtype), leaf(1, 4, 4, dtype=dtype), leaf(1, 4, 2, dtype=dtype)
    mask = random_mask(1, 3, 4)
    assert torch.autograd.gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask)[0], (q, k, v))


# ----------------------------------------------------------------------------------------------------
# additive attention


def additive_reference(query, key, value, w_query, w_key, v):
    """score[b, i, j] = v . tanh(W_q q_i + W_k k_j), written with explicit loops."""
    B, Lq, Lk = query.size(0), query.size(1), key.size(1)
    scores = torch.empty(B, Lq, Lk, dtype=query.dtype)
    for b in range(B):
        for i in range(Lq):
            for j in range(Lk):
                scores[b, i, j] = v @ torch.tanh(w_query @ query[b, i] + w_key @ key[b, j])
    weights = torch.softmax(scores, dim=-1)
    return weights @ value, weights


@pytest.mark.parametrize("dtype", DTYPES)
def test_additive_attention_matches_explicit_loops(dtype):
    torch.manual_seed(8)
    attn = AdditiveAttention(d_query=3, d_key=5, d_hidden=7).to(dtype)
    q, k, v = torch.randn(2, 4, 3, dtype=dtype), torch.randn(2, 6, 5, dtype=dtype), torch.randn(2, 6, 2, dtype=dtype)
    out, weights = attn(q, k, v)
    ref_out, ref_weights = additive_reference(q, k, v, attn.query_proj.weight, attn.key_proj.weight, attn.v)
    assert_close(weights, ref_weights)
    assert_close(out, ref_out)


def test_additive_attention_respects_the_mask():
    torch.manual_seed(9)
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    w_q, w_k, vec = torch.randn(8, 4), torch.randn(8, 4), torch.randn(8)
    mask = padding_mask(torch.tensor([5, 2]))[:, 0]  # [B, 1, Lk]
    out, weights = additive_attention(q, k, v, w_q, w_k, vec, mask=mask)
    assert torch.equal(weights[1, :, 2:], torch.zeros(3, 3))
    ref_out, _ = additive_attention(q[1:], k[1:, :2], v[1:, :2], w_q, w_k, vec)
    assert_close(out[1:], ref_out)


# ----------------------------------------------------------------------------------------------------
# multi-head attention against nn.MultiheadAttention


def mha_pair(d_model, num_heads, bias, dtype):
    ref = nn.MultiheadAttention(d_model, num_heads, bias=bias, batch_first=True, dtype=dtype)
    if bias:  # PyTorch starts the biases at zero; random ones make the comparison meaningful
        with torch.no_grad():
            ref.in_proj_bias.normal_()
            ref.out_proj.bias.normal_()
    return MultiHeadAttention.from_torch(ref), ref


def mha_param_grads(ours, ref, g_out, out, ref_out):
    """Gradients of both modules' parameters, ours stacked like PyTorch's in_proj."""
    mine = dict(zip(dict(ours.named_parameters()), torch.autograd.grad(out, list(ours.parameters()), g_out)))
    theirs = dict(zip(dict(ref.named_parameters()), torch.autograd.grad(ref_out, list(ref.parameters()), g_out)))
    pairs = []
    for kind in ("weight", "bias") if "in_proj_bias" in theirs else ("weight",):
        stacked = torch.cat([mine[f"{p}_proj.{kind}"] for p in "qkv"])
        pairs += [(stacked, theirs[f"in_proj_{kind}"]), (mine[f"out_proj.{kind}"], theirs[f"out_proj.{kind}"])]
    return pairs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", ["self", "cross", "padding", "causal+padding"])
def test_mha_matches_torch_forward_and_gradients(dtype, bias, case):
    torch.manual_seed(10)
    B, Lq, Lk, d_model, heads = 2, 4, 6, 12, 3
    ours, ref = mha_pair(d_model, heads, bias, dtype)
    lengths = torch.tensor([6, 3])
    if case == "self":
        x = leaf(B, Lq, d_model, dtype=dtype)
        query = key = value = x
        mask = key_padding_mask = attn_mask = None
    elif case == "causal+padding":
        x = leaf(B, Lk, d_model, dtype=dtype)
        query = key = value = x
        mask = combine_masks(padding_mask(lengths), causal_mask(Lk))
        key_padding_mask, attn_mask = ~padding_mask(lengths)[:, 0, 0], ~causal_mask(Lk)  # PyTorch: True = ignore
    else:  # cross-attention: different query and key lengths
        query, key, value = leaf(B, Lq, d_model, dtype=dtype), leaf(B, Lk, d_model, dtype=dtype), leaf(
            B, Lk, d_model, dtype=dtype
        )
        mask = padding_mask(lengths) if case == "padding" else None
        key_padding_mask = ~padding_mask(lengths)[:, 0, 0] if case == "padding" else None
        attn_mask = None

    out, weights = ours(query, key, value, mask)
    ref_out, ref_weights = ref(
        query, key, value, key_padding_mask=key_padding_mask, attn_mask=attn_mask, average_attn_weights=False
    )
    assert out.shape == ref_out.shape and weights.shape == (B, heads, query.size(1), key.size(1))
    assert_close(out, ref_out)
    assert_close(weights, ref_weights)

    g = torch.randn_like(out)
    inputs = list({id(t): t for t in (query, key, value)}.values())
    for a, b in zip(torch.autograd.grad(out, inputs, g, retain_graph=True),
                    torch.autograd.grad(ref_out, inputs, g, retain_graph=True)):
        assert_close(a, b)
    for a, b in mha_param_grads(ours, ref, g, out, ref_out):
        assert_close(a, b)


def test_mha_from_torch_copies_every_weight_and_the_dropout():
    ref = nn.MultiheadAttention(8, 2, dropout=0.25, batch_first=True)
    ours = MultiHeadAttention.from_torch(ref)
    assert ours.dropout == 0.25
    assert torch.equal(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]), ref.in_proj_weight)
    assert torch.equal(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]), ref.in_proj_bias)
    assert torch.equal(ours.out_proj.weight, ref.out_proj.weight)
    # Copies, not shared storage: changing ours leaves PyTorch's alone.
    with torch.no_grad():
        ours.q_proj.weight.zero_()
    assert ref.in_proj_weight[:8].abs().sum() > 0


def test_mha_from_torch_rejects_unsupported_configurations():
    with pytest.raises(ValueError, match="kdim == vdim == embed_dim"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, kdim=4, vdim=4))
    with pytest.raises(ValueError, match="add_bias_kv=False"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, add_bias_kv=True))
    with pytest.raises(TypeError, match="mha: expected a torch.nn.MultiheadAttention, got Linear"):
        MultiHeadAttention.from_torch(nn.Linear(8, 8))


def test_mha_dropout_only_in_training():
    torch.manual_seed(11)
    mha = MultiHeadAttention(8, 2, dropout=0.5)
    x = torch.randn(2, 6, 8)
    mha.eval()
    _, w_eval = mha(x, x, x)
    assert_close(w_eval.sum(-1), torch.ones(2, 2, 6))
    mha.train()
    _, w_train = mha(x, x, x)
    assert (w_train == 0).any()
    assert_close(w_train[w_train != 0], 2 * w_eval[w_train != 0])


# ----------------------------------------------------------------------------------------------------
# properties


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), rows=st.integers(1, 4), cols=st.integers(1, 6),
       shift=st.floats(-50, 50, allow_nan=False))
def test_softmax_rows_sum_to_one_and_ignore_a_constant_added_to_a_row(seed, rows, cols, shift):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(rows, cols, generator=gen, dtype=torch.float64) * 5
    mask = torch.rand(rows, cols, generator=gen) > 0.3
    weights = masked_softmax(scores, mask)
    alive = mask.any(-1)
    assert_close(weights.sum(-1)[alive], torch.ones(int(alive.sum()), dtype=torch.float64))
    assert torch.equal(weights[~alive], torch.zeros(int((~alive).sum()), cols, dtype=torch.float64))
    assert torch.equal(weights[~mask], torch.zeros(int((~mask).sum()), dtype=torch.float64))
    row_shift = torch.randn(rows, 1, generator=gen, dtype=torch.float64) * shift
    assert_close(masked_softmax(scores + row_shift, mask), weights)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3))
def test_padding_leak_changing_masked_keys_and_values_changes_no_output(seed, lengths):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mha = MultiHeadAttention(8, 2)
    B, L = len(lengths), 6
    query, key, value = (torch.randn(B, n, 8, generator=gen) for n in (3, L, L))
    mask = padding_mask(torch.tensor(lengths), max_len=L)
    padded = ~mask[:, 0, 0, :, None]  # [B, L, 1]: True at padding positions
    key2 = torch.where(padded, torch.randn(B, L, 8, generator=gen) * 100, key)
    value2 = torch.where(padded, torch.randn(B, L, 8, generator=gen) * 100, value)
    out, weights = mha(query, key, value, mask)
    out2, weights2 = mha(query, key2, value2, mask)
    assert torch.equal(out, out2)
    assert torch.equal(weights, weights2)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), length=st.integers(2, 7), t=st.integers(0, 5))
def test_causal_leak_changing_future_tokens_changes_no_earlier_output(seed, length, t):
    t = min(t, length - 2)  # positions 0..t are kept, t+1.. are changed
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mha = MultiHeadAttention(8, 4)
    x = torch.randn(2, length, 8, generator=gen)
    x2 = x.clone()
    x2[:, t + 1:] = torch.randn(2, length - t - 1, 8, generator=gen)
    out, _ = mha(x, x, x, causal_mask(length))
    out2, _ = mha(x2, x2, x2, causal_mask(length))
    assert torch.equal(out[:, : t + 1], out2[:, : t + 1])
    assert not torch.equal(out[:, t + 1:], out2[:, t + 1:])  # the test can fail: later outputs do change


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), length=st.integers(1, 7))
def test_self_attention_without_positions_is_permutation_equivariant(seed, length):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mha = MultiHeadAttention(8, 2).double()
    x = torch.randn(2, length, 8, generator=gen, dtype=torch.float64)
    perm = torch.randperm(length, generator=gen)
    out, weights = mha(x, x, x)
    out_p, weights_p = mha(x[:, perm], x[:, perm], x[:, perm])
    assert_close(out_p, out[:, perm])
    assert_close(weights_p, weights[:, :, perm][:, :, :, perm])


# ----------------------------------------------------------------------------------------------------
# edges found by `make mutation` (each test kills mutants that survived the tests above)


def test_masked_softmax_of_one_row():
    assert torch.equal(masked_softmax(torch.zeros(2)), torch.tensor([0.5, 0.5]))


@pytest.mark.parametrize("q_batch, k_batch", [(2, 1), (1, 2)])
def test_a_mask_may_have_the_batch_of_either_query_or_key(q_batch, k_batch):
    """The scores' batch is the broadcast of the query's and the key's: a mask of that batch fits."""
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(q_batch, 3, 4, generator=gen), torch.randn(k_batch, 5, 4, generator=gen),
               torch.randn(k_batch, 5, 2, generator=gen))
    mask = random_mask(2, 3, 5, gen=gen)
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    e = lambda t: t.expand(2, *t.shape[1:])  # noqa: E731
    ref = F.scaled_dot_product_attention(e(q), e(k), e(v), attn_mask=mask)
    assert_close(out, ref)
    w_q, w_k, vec = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen), torch.randn(6, generator=gen)
    out, weights = additive_attention(q, k, v, w_q, w_k, vec, mask=mask)
    ref_out, ref_weights = additive_attention(e(q), e(k), e(v), w_q, w_k, vec, mask=mask)
    assert_close(out, ref_out)
    assert_close(weights, ref_weights)


def test_sdpa_float16_scores_do_not_overflow_and_keep_the_dtype():
    """q . k = 360000 overflows float16 (max 65504): the scores are computed in float32, as PyTorch does."""
    q = torch.full((1, 2, 4), 300.0)
    v = torch.randn(1, 2, 3, generator=torch.Generator().manual_seed(0)).half()
    out, weights = scaled_dot_product_attention(q.half(), q.half(), v)
    ref_out, ref_weights = scaled_dot_product_attention(q, q, v.float())  # the same computation in float32
    assert out.dtype == weights.dtype == torch.float16
    assert torch.equal(out, ref_out.half()) and torch.equal(weights, ref_weights.half())


def test_sdpa_dropout_is_torch_dropout_with_the_given_p():
    gen = torch.Generator().manual_seed(4)
    q, k = torch.randn(2, 6, 4, generator=gen), torch.randn(2, 7, 4, generator=gen)
    v = torch.randn(2, 7, 3, generator=gen)
    torch.manual_seed(5)
    out, weights = scaled_dot_product_attention(q, k, v, dropout_p=0.2)
    torch.manual_seed(5)
    ref_weights = F.dropout(torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1), p=0.2)
    assert torch.equal(weights, ref_weights)
    assert_close(out, ref_weights @ v)


@pytest.mark.parametrize("batch", [(), (2, 3)])
def test_additive_attention_without_and_with_two_batch_dimensions(batch):
    gen = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(*batch, 3, 4, generator=gen), torch.randn(*batch, 5, 2, generator=gen),
               torch.randn(*batch, 5, 3, generator=gen))
    w_q, w_k, vec = torch.randn(6, 4, generator=gen), torch.randn(6, 2, generator=gen), torch.randn(6, generator=gen)
    out, weights = additive_attention(q, k, v, w_q, w_k, vec)
    flat = lambda t: t.reshape(-1, *t.shape[-2:])  # noqa: E731
    ref_out, ref_weights = additive_reference(flat(q), flat(k), flat(v), w_q, w_k, vec)
    assert_close(out, ref_out.reshape(out.shape))
    assert_close(weights, ref_weights.reshape(weights.shape))


def test_additive_attention_module_has_no_biases_and_v_uniform_in_plus_minus_one_over_sqrt_d_hidden():
    torch.manual_seed(7)
    attn = AdditiveAttention(4, 5, 64)
    assert sorted(name for name, _ in attn.named_parameters()) == ["key_proj.weight", "query_proj.weight", "v"]
    bound = 64**-0.5
    assert attn.v.abs().max() <= bound and attn.v.min() < -bound / 2 and attn.v.max() > bound / 2


def test_additive_attention_module_passes_the_mask_on():
    torch.manual_seed(8)
    attn = AdditiveAttention(4, 4, 8)
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    mask = padding_mask(torch.tensor([5, 2]))[:, 0]  # [B, 1, Lk]
    out, weights = attn(q, k, v, mask)
    ref_out, ref_weights = additive_attention(q, k, v, attn.query_proj.weight, attn.key_proj.weight, attn.v, mask)
    assert torch.equal(weights[1, :, 2:], torch.zeros(3, 3))
    assert torch.equal(out, ref_out) and torch.equal(weights, ref_weights)


def test_mha_without_bias_has_the_parameters_of_torch_without_bias():
    ours = MultiHeadAttention(8, 2, bias=False)
    assert all(not name.endswith("bias") for name, _ in ours.named_parameters())
    ref = nn.MultiheadAttention(8, 2, bias=False)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


def test_mha_from_torch_keeps_the_device():
    """The meta device stands in for an accelerator: the copy is made where the weights are."""
    ours = MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, device="meta"))
    assert all(p.device.type == "meta" for p in ours.parameters())


def test_mha_has_biases_by_default_as_torch():
    ours, ref = MultiHeadAttention(8, 2), nn.MultiheadAttention(8, 2)
    assert all(p.bias is not None for p in (ours.q_proj, ours.k_proj, ours.v_proj, ours.out_proj))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_masked_softmax_is_finite_for_large_scores(dtype):
    # Scores of a few hundred are real (ViT-22B's attention logits grew that large); exp(100) overflows
    # float32 and exp(12) float16, so the softmax must subtract each row's maximum first, as torch.softmax does.
    scores = torch.tensor([[100.0, 99.0, -5.0], [1000.0, 0.0, 1000.0]], dtype=dtype)
    weights = masked_softmax(scores, torch.tensor([True, True, False]))
    assert weights.isfinite().all()
    expected = torch.softmax(scores.float().masked_fill(torch.tensor([False, False, True]), float("-inf")), -1)
    torch.testing.assert_close(weights.float(), expected, atol=1e-3, rtol=0)
