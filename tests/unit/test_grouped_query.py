"""qkv.attention.GroupedQueryAttention against PyTorch's scaled_dot_product_attention and qkv's multi-head attention."""

import pytest
import torch
import torch.nn.functional as F

from qkv.attention import GroupedQueryAttention, MultiHeadAttention, repeat_kv_heads
from qkv.masks import causal_mask, sliding_window_mask

from .reference import DTYPES, assert_close


def torch_reference(gqa, query, key, value, mask=None, enable_gqa=False):
    """The same layer written with PyTorch's function: keys/values repeated by hand, or by enable_gqa=True."""
    B, Lq, _ = query.shape
    Lk = key.size(1)
    q = F.linear(query, gqa.q_proj.weight, gqa.q_proj.bias).view(B, Lq, gqa.num_heads, gqa.head_dim).transpose(1, 2)
    k = F.linear(key, gqa.k_proj.weight, gqa.k_proj.bias).view(B, Lk, gqa.num_kv_heads, gqa.head_dim).transpose(1, 2)
    v = F.linear(value, gqa.v_proj.weight, gqa.v_proj.bias).view(B, Lk, gqa.num_kv_heads, gqa.head_dim).transpose(1, 2)
    if enable_gqa:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
    else:
        groups = gqa.num_heads // gqa.num_kv_heads
        k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return F.linear(out.transpose(1, 2).reshape(B, Lq, -1), gqa.out_proj.weight, gqa.out_proj.bias)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_kv_heads", [8, 4, 2, 1])
@pytest.mark.parametrize("enable_gqa", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_gqa_matches_torch_forward_and_gradients(dtype, num_kv_heads, enable_gqa, masked):
    torch.manual_seed(num_kv_heads)
    gqa = GroupedQueryAttention(32, 8, num_kv_heads).to(dtype)
    query = torch.randn(2, 5, 32, dtype=dtype, requires_grad=True)
    memory = torch.randn(2, 7, 32, dtype=dtype, requires_grad=True)
    mask = (torch.rand(5, 7) > 0.4) | torch.eye(5, 7, dtype=torch.bool) if masked else None
    out, weights = gqa(query, memory, memory, mask)
    ref = torch_reference(gqa, query, memory, memory, mask, enable_gqa)
    assert_close(out, ref)
    assert weights.shape == (2, 8, 5, 7)
    g = torch.randn_like(out)
    params = [query, memory, *gqa.parameters()]
    for a, b in zip(torch.autograd.grad(out, params, g), torch.autograd.grad(ref, params, g)):
        assert_close(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gqa_with_as_many_kv_heads_as_query_heads_is_qkv_multi_head_attention(dtype):
    torch.manual_seed(0)
    mha = MultiHeadAttention(24, 4).to(dtype)
    gqa = GroupedQueryAttention.from_multi_head(mha)
    x = torch.randn(3, 6, 24, dtype=dtype, requires_grad=True)
    mask = causal_mask(6)
    (out, w), (ref, w_ref) = gqa(x, x, x, mask), mha(x, x, x, mask)
    assert torch.equal(out, ref) and torch.equal(w, w_ref)
    g = torch.randn_like(out)
    (a,) = torch.autograd.grad(out, x, g)
    (b,) = torch.autograd.grad(ref, x, g)
    assert torch.equal(a, b)


def test_query_heads_of_one_group_see_the_same_keys_and_multi_query_has_one_key_head():
    torch.manual_seed(0)
    mqa = GroupedQueryAttention(16, 4, 1)
    assert mqa.k_proj.weight.shape == (4, 16) and mqa.v_proj.weight.shape == (4, 16)
    x = torch.randn(1, 5, 16)
    k, v = mqa.project_kv(x, x)
    assert k.shape == v.shape == (1, 1, 5, 4)
    # Query heads of different groups differ; with one group, a query head that equals another gives equal weights.
    gqa = GroupedQueryAttention(16, 4, 2)
    with torch.no_grad():
        gqa.q_proj.weight[4:8] = gqa.q_proj.weight[0:4]  # query head 1 := query head 0 (same group)
        gqa.q_proj.bias[4:8] = gqa.q_proj.bias[0:4]
        gqa.q_proj.weight[8:12] = gqa.q_proj.weight[0:4]  # query head 2 := head 0, but in the other group
        gqa.q_proj.bias[8:12] = gqa.q_proj.bias[0:4]
    _, w = gqa(x, x, x)
    assert torch.equal(w[:, 0], w[:, 1]) and not torch.allclose(w[:, 0], w[:, 2])


def test_repeat_kv_heads_order_matches_enable_gqa():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 6, 4, 8), torch.randn(1, 3, 5, 8), torch.randn(1, 3, 5, 8)
    ours = F.scaled_dot_product_attention(q, repeat_kv_heads(k, 2), repeat_kv_heads(v, 2))
    theirs = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
    assert torch.equal(repeat_kv_heads(k, 2)[:, 1], k[:, 0]) and torch.equal(repeat_kv_heads(k, 2)[:, 2], k[:, 1])


def test_gqa_respects_a_sliding_window_mask():
    torch.manual_seed(0)
    gqa = GroupedQueryAttention(16, 4, 2).eval()
    x = torch.randn(1, 9, 16)
    _, w = gqa(x, x, x, sliding_window_mask(9, 3))
    assert torch.equal(w[0] > 0, sliding_window_mask(9, 3).expand(4, 9, 9))


def test_gqa_rejects_heads_that_do_not_divide():
    with pytest.raises(ValueError, match=r"num_heads: expected a multiple of 4 \(num_kv_heads\), got 6"):
        GroupedQueryAttention(24, 6, 4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_gqa_in_low_precision_matches_torch_within_rounding(dtype):
    from .reference import tolerance

    torch.manual_seed(0)
    gqa = GroupedQueryAttention(32, 8, 2).to(dtype)
    x = torch.randn(2, 6, 32).to(dtype)
    out, _ = gqa(x, x, x, causal_mask(6))
    ref = torch_reference(gqa, x, x, x, causal_mask(6), enable_gqa=True)
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), ref.float(), atol=4 * tolerance(dtype, 32, 2.0), rtol=0)
