"""qkv.attention.blockwise_attention (the online softmax of FlashAttention) against ordinary attention and PyTorch."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from qkv.attention import blockwise_attention, scaled_dot_product_attention
from qkv.masks import causal_mask, sliding_window_mask

from .reference import DTYPES, LOW_PRECISION, assert_close, leaf, raises, tolerance


@settings(max_examples=40, deadline=None)
@given(lq=st.integers(1, 12), lk=st.integers(1, 12), block=st.integers(1, 16), heads=st.integers(1, 3),
       mask_kind=st.sampled_from(["none", "random", "causal", "window"]), seed=st.integers(0, 2**16))
def test_blockwise_equals_attention_forward_and_backward_for_random_shapes_masks_and_blocks(lq, lk, block, heads,
                                                                                            mask_kind, seed):
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (leaf(2, heads, n, d, dtype=torch.float64, gen=gen) for n, d in ((lq, 6), (lk, 6), (lk, 5)))
    n = max(lq, lk)
    mask = {"none": None, "random": torch.rand(2, 1, lq, lk, generator=gen) > 0.5,  # rows may be all masked
            "causal": causal_mask(n)[:lq, :lk], "window": sliding_window_mask(n, 3)[:lq, :lk]}[mask_kind]
    ours = blockwise_attention(q, k, v, mask, block_size=block)
    ref, _ = scaled_dot_product_attention(q, k, v, mask)
    assert_close(ours, ref)
    g = torch.randn(ours.shape, generator=gen, dtype=torch.float64)
    grads = torch.autograd.grad(ours, (q, k, v), g)
    ref_grads = torch.autograd.grad(ref, (q, k, v), g)
    for a, b in zip(grads, ref_grads):
        assert torch.isfinite(a).all()
        assert_close(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("block", [1, 7, 64, 1000])
def test_blockwise_matches_torch_sdpa_with_a_causal_mask(dtype, block):
    torch.manual_seed(block)
    q, k, v = leaf(2, 4, 100, 16, dtype=dtype), leaf(2, 4, 100, 16, dtype=dtype), leaf(2, 4, 100, 8, dtype=dtype)
    ours = blockwise_attention(q, k, v, causal_mask(100), block_size=block)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert_close(ours, ref)
    g = torch.randn_like(ours)
    for a, b in zip(torch.autograd.grad(ours, (q, k, v), g), torch.autograd.grad(ref, (q, k, v), g)):
        assert_close(a, b)


@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_blockwise_in_low_precision_matches_torch_within_rounding(dtype):
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 50, 16).to(dtype) for _ in range(3))
    ours = blockwise_attention(q, k, v, block_size=8)
    ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float()).to(dtype)
    assert ours.dtype == dtype
    torch.testing.assert_close(ours.float(), ref.float(), atol=2 * tolerance(dtype, 50, 4.0), rtol=0)


def test_large_scores_do_not_overflow_thanks_to_the_running_maximum():
    # Scores near 1000: exp(1000) overflows float32, exp(score - running max) does not.
    q = torch.full((1, 3, 4), 40.0)
    k = torch.randn(1, 9, 4) + 25.0
    v = torch.randn(1, 9, 2)
    ours = blockwise_attention(q, k, v, block_size=2, scale=1.0)
    ref = F.scaled_dot_product_attention(q, k, v, scale=1.0)
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_fully_masked_rows_give_zero_output_and_a_broadcast_mask_covers_every_block():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 6, 4), torch.randn(2, 6, 2)
    mask = torch.tensor([True, False, True, True, False, True])  # [Lk], broadcast over queries and batch
    ours = blockwise_attention(q, k, v, mask, block_size=2)
    assert_close(ours, scaled_dot_product_attention(q, k, v, mask)[0])
    none = torch.zeros(3, 6, dtype=torch.bool)
    assert torch.equal(blockwise_attention(q, k, v, none, block_size=4), torch.zeros(2, 3, 2))


# ----------------------------------------------------------------------------------------------------
# Each test below kills mutants that `make mutation` found surviving (tests/mutation_survivors.md).


def test_blockwise_names_a_bad_scale():
    x = torch.randn(2, 3, 4)
    with raises(TypeError, "scale: expected a number, got str '2'"):
        blockwise_attention(x, x, x, scale="2")


def test_blockwise_default_block_size_is_128():
    """Over 300 keys the block size changes the order of the sums, so the bits show which one was used."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(2, 5, 4, generator=gen), torch.randn(2, 300, 4, generator=gen), torch.randn(2, 300, 3,
                                                                                                        generator=gen)
    assert torch.equal(blockwise_attention(q, k, v), blockwise_attention(q, k, v, block_size=128))
    assert not torch.equal(blockwise_attention(q, k, v), blockwise_attention(q, k, v, block_size=129))


@pytest.mark.parametrize("q_batch, k_batch", [(2, 1), (1, 2)])
def test_blockwise_a_mask_may_have_the_batch_of_either_query_or_key(q_batch, k_batch):
    """The scores' batch is the broadcast of the query's and the key's: a mask of that batch fits."""
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(q_batch, 3, 4, generator=gen), torch.randn(k_batch, 5, 4, generator=gen),
               torch.randn(k_batch, 5, 2, generator=gen))
    mask = torch.rand(2, 3, 5, generator=gen) > 0.3
    ours = blockwise_attention(q, k, v, mask, block_size=2)
    e = lambda t: t.expand(2, *t.shape[1:])  # noqa: E731
    assert ours.shape == (2, 3, 2)
    assert_close(ours, scaled_dot_product_attention(e(q), e(k), e(v), mask)[0])


def test_each_query_row_keeps_its_own_running_maximum():
    """Row scores 1000 apart: a maximum shared by the rows would make exp(score - max) of the lower row 0."""
    k = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    q = torch.tensor([[[500.0, 500.0], [-500.0, -499.0]]])
    v = torch.randn(1, 3, 2, generator=torch.Generator().manual_seed(0))
    ours = blockwise_attention(q, k, v, block_size=3, scale=1.0)
    ref = F.scaled_dot_product_attention(q, k, v, scale=1.0)
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


def test_blockwise_works_in_the_dtype_and_on_the_device_of_its_inputs_whatever_the_defaults():
    """The running max, sum and output are made in the working dtype and on the query's device: neither the
    default dtype (float64 would compute a float32 input in float64) nor the default device (meta stands in
    for an accelerator) changes a bit of the result."""
    gen = torch.Generator().manual_seed(1)
    q, k, v = torch.randn(2, 5, 4, generator=gen), torch.randn(2, 40, 4, generator=gen), torch.randn(2, 40, 3,
                                                                                                       generator=gen)
    ref = blockwise_attention(q, k, v, block_size=8)
    in_float64 = blockwise_attention(q.double(), k.double(), v.double(), block_size=8).float()
    assert not torch.equal(in_float64, ref)  # the working dtype shows in the bits
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        out = blockwise_attention(q, k, v, block_size=8)
    finally:
        torch.set_default_dtype(default)
    assert out.dtype == torch.float32 and torch.equal(out, ref)
    with torch.device("meta"):
        out = blockwise_attention(q, k, v, block_size=8)
    assert out.device.type == "cpu" and torch.equal(out, ref)
