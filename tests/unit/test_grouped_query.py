"""qkv.attention.GroupedQueryAttention against PyTorch's scaled_dot_product_attention and qkv's multi-head attention."""

import pytest
import torch
import torch.nn.functional as F

from qkv.attention import GroupedQueryAttention, MultiHeadAttention, repeat_kv_heads
from qkv.masks import causal_mask, sliding_window_mask

from .reference import DTYPES, assert_close, raises


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


# ----------------------------------------------------------------------------------------------------
# Each test below kills mutants that `make mutation` found surviving (tests/mutation_survivors.md).


def test_gqa_constructor_messages_name_each_argument():
    with raises(ValueError, "d_model: expected a positive integer, got 0"):
        GroupedQueryAttention(0, 2, 1)
    with raises(ValueError, "num_heads: expected a positive integer, got 0"):
        GroupedQueryAttention(8, 0, 1)
    with raises(ValueError, "d_model: expected a multiple of 3 (num_heads), got 10"):
        GroupedQueryAttention(10, 3, 1)
    with raises(ValueError, "dropout: expected a probability in [0, 1), got 1.5"):
        GroupedQueryAttention(8, 2, 1, dropout=1.5)
    with raises(TypeError, "bias: expected a bool, got str 'no'"):
        GroupedQueryAttention(8, 2, 1, bias="no")


def test_gqa_forward_and_project_kv_messages_name_each_argument():
    gqa, x = GroupedQueryAttention(4, 2, 1), torch.randn(2, 3, 4)
    for i, name in enumerate(("query", "key", "value")):
        for bad, exc, message in (
            (x.long(), TypeError, f"{name}: expected a floating-point tensor, got torch.int64"),
            (x[0], ValueError, f"{name}: expected 3 dimensions [batch, length, d_model], got shape (3, 4)"),
            (x[..., :3], ValueError, f"{name}: expected last dimension of size 4 (d_model), got shape (2, 3, 3)"),
        ):
            args = [x, x, x]
            args[i] = bad
            with raises(exc, message):
                gqa(*args)
            if name != "query":
                with raises(exc, message):
                    gqa.project_kv(*args[1:])
    for i, name in ((1, "key"), (2, "value")):
        args = [x, x, x]
        args[i] = x[:1]
        message = f"{name}: expected dimension 0 of size 2 (the batch size of query), got shape (1, 3, 4)"
        with raises(ValueError, message):
            gqa(*args)
    # project_kv alone (as a KV cache calls it) compares the values' batch with the keys'.
    with raises(ValueError, "value: expected dimension 0 of size 2 (the batch size of key), got shape (1, 3, 4)"):
        gqa.project_kv(x, x[:1])


def test_repeat_kv_heads_names_x_when_it_is_not_a_tensor():
    with raises(TypeError, "x: expected a torch.Tensor, got list"):
        repeat_kv_heads([[[[1.0]]]], 2)


def test_gqa_has_biases_by_default_and_none_with_bias_false():
    with_bias, without = GroupedQueryAttention(8, 4, 2), GroupedQueryAttention(8, 4, 2, bias=False)
    projections = ("q_proj", "k_proj", "v_proj", "out_proj")
    assert all(getattr(with_bias, p).bias is not None for p in projections)
    assert all(getattr(without, p).bias is None for p in projections)
    # q and out: 8 x 8; k and v: 8 -> 2 kv heads x head_dim 2 = 4 outputs.
    assert sum(p.numel() for p in without.parameters()) == 2 * 64 + 2 * 32
    assert sum(p.numel() for p in with_bias.parameters()) == 2 * 64 + 2 * 32 + 2 * 8 + 2 * 4


def test_gqa_dropout_only_in_training_and_it_is_torch_dropout_of_the_weights():
    torch.manual_seed(11)
    gqa = GroupedQueryAttention(16, 4, 2, dropout=0.5)
    x = torch.randn(2, 6, 16)
    gqa.eval()
    _, w_eval = gqa(x, x, x)
    assert_close(w_eval.sum(-1), torch.ones(2, 4, 6))  # no dropout in eval
    gqa.train()
    torch.manual_seed(12)
    _, w_train = gqa(x, x, x)
    torch.manual_seed(12)
    assert torch.equal(w_train, F.dropout(w_eval, p=0.5))
    assert (w_train == 0).any()


def test_gqa_from_multi_head_keeps_dropout_bias_and_device():
    mha = MultiHeadAttention(8, 2, dropout=0.25, bias=False)
    gqa = GroupedQueryAttention.from_multi_head(mha)
    assert gqa.dropout == 0.25
    assert all(p.bias is None for p in (gqa.q_proj, gqa.k_proj, gqa.v_proj, gqa.out_proj))
    # The meta device stands in for an accelerator: the copy is made where the weights are.
    on_meta = GroupedQueryAttention.from_multi_head(MultiHeadAttention(8, 2).to("meta"))
    assert all(p.device.type == "meta" for p in on_meta.parameters())
