"""qkv.masks: padding and causal masks, and combining them."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qkv.masks import causal_mask, combine_masks, padding_mask, sliding_window_mask

from .reference import raises


def test_padding_mask_from_lengths():
    mask = padding_mask(torch.tensor([3, 1, 0]), max_len=4)
    assert mask.shape == (3, 1, 1, 4) and mask.dtype == torch.bool
    expected = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(mask[:, 0, 0], expected)


def test_padding_mask_max_len_defaults_to_the_longest_and_accepts_a_list():
    mask = padding_mask([2, 5])
    assert mask.shape == (2, 1, 1, 5)
    assert mask.sum().item() == 7


@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(0, 6), min_size=1, max_size=4), pad_id=st.integers(0, 3))
def test_padding_mask_from_tokens_agrees_with_lengths(lengths, pad_id):
    L = 6
    tokens = torch.full((len(lengths), L), pad_id)
    for b, n in enumerate(lengths):
        tokens[b, :n] = pad_id + 1 + torch.arange(n)  # real tokens never equal pad_id
    assert torch.equal(padding_mask(tokens=tokens, pad_id=pad_id), padding_mask(torch.tensor(lengths), max_len=L))


def test_causal_mask_is_lower_triangular():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool and mask.shape == (4, 4)
    for i in range(4):
        for j in range(4):
            assert mask[i, j].item() == (j <= i)


def test_combine_masks_is_logical_and_with_broadcasting_and_skips_none():
    pad = padding_mask(torch.tensor([2, 3]), max_len=3)  # [2, 1, 1, 3]
    combined = combine_masks(pad, None, causal_mask(3))
    assert combined.shape == (2, 1, 3, 3)
    for b, n in enumerate([2, 3]):
        for i in range(3):
            for j in range(3):
                assert combined[b, 0, i, j].item() == (j <= i and j < n)
    assert combine_masks(None, None) is None
    assert torch.equal(combine_masks(causal_mask(2)), causal_mask(2))


def test_masks_follow_the_device_argument():
    assert causal_mask(2, device="cpu").device.type == "cpu"
    assert padding_mask(torch.tensor([1])).device.type == "cpu"


def test_padding_mask_rejects_bad_arguments():
    with pytest.raises(ValueError, match="expected exactly one of lengths or tokens, got neither"):
        padding_mask()
    with pytest.raises(ValueError, match="expected exactly one of lengths or tokens, got both"):
        padding_mask(torch.tensor([1]), tokens=torch.tensor([[1]]), pad_id=0)
    with pytest.raises(ValueError, match="pad_id: expected the id of the padding token"):
        padding_mask(tokens=torch.tensor([[1, 0]]))
    with pytest.raises(TypeError, match="tokens: expected an integer tensor, got torch.float32"):
        padding_mask(tokens=torch.tensor([[1.0, 0.0]]), pad_id=0)
    with pytest.raises(TypeError, match="lengths: expected an integer tensor, got torch.float32"):
        padding_mask(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"lengths: expected values in \[0, max_len=2\], got \[1, 3\]"):
        padding_mask(torch.tensor([1, 3]), max_len=2)
    with pytest.raises(ValueError, match=r"tokens: expected 2 dimensions \[batch, length\], got shape \(3,\)"):
        padding_mask(tokens=torch.tensor([1, 2, 0]), pad_id=0)


def test_causal_mask_and_combine_reject_bad_arguments():
    with pytest.raises(ValueError, match="size: expected a positive integer, got 0"):
        causal_mask(0)
    with pytest.raises(TypeError, match="size: expected a positive integer, got float 3.0"):
        causal_mask(3.0)
    with pytest.raises(TypeError, match=r"masks\[1\]: expected a boolean tensor \(True = may attend\), "
                                        r"got torch.int64"):
        combine_masks(causal_mask(2), torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"masks\[1\]: shape \(3, 3\) does not broadcast with the masks before it, "
                                         r"shape \(2, 2\)"):
        combine_masks(causal_mask(2), causal_mask(3))


# --- the leak test: qkv.masks.find_leaks, and qkv's own layers guarded by it

import math  # noqa: E402

from qkv.attention import MultiHeadAttention, masked_softmax  # noqa: E402
from qkv.attention import scaled_dot_product_attention as sdpa  # noqa: E402
from qkv.masks import find_leaks  # noqa: E402
from qkv.transformer import Decoder, DecoderLayer, Encoder, EncoderLayer  # noqa: E402

LENGTHS = torch.tensor([5, 3, 1])  # a batch of three sequences padded to 5 (one is a single token)
T = 5


def _real():
    return padding_mask(LENGTHS, max_len=T)[:, 0]  # [B, 1, T]: the real keys


def _padding_allowed():
    """Real queries may depend on real positions only; padded queries (whose output nobody uses) on anything."""
    real = _real()
    return real | ~real.transpose(-2, -1)  # [B, T, T]


def _causal_padding_allowed():
    return _padding_allowed() & causal_mask(T) | ~_real().transpose(-2, -1)


def test_find_leaks_agrees_with_a_direct_computation_on_a_linear_map():
    # y[b, i] = sum_j W[i, j] x[b, j]: output i depends on input j exactly where W[i, j] != 0.
    generator = torch.Generator().manual_seed(0)
    W = torch.randn(4, 6, generator=generator) * (torch.rand(4, 6, generator=generator) < 0.5)
    allowed = torch.rand(4, 6, generator=generator) < 0.5
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    leaks = find_leaks(lambda x: torch.einsum("ij,bjd->bid", W.double(), x), x, allowed)
    assert leaks.shape == (2, 4, 6)
    assert torch.equal(leaks, ((W != 0) & ~allowed).expand(2, 4, 6))


def test_find_leaks_reports_a_dependence_across_the_batch():
    x = torch.randn(3, 4, 2)
    # Position i of every sequence reads position i of the others: with everything allowed inside a
    # sequence, only that leak across the batch is left, reported at [b, i, i].
    leaks = find_leaks(lambda x: x + x.mean(0), x, torch.ones(4, 4, dtype=torch.bool))
    assert torch.equal(leaks, torch.eye(4, dtype=torch.bool).expand(3, 4, 4))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_find_leaks_sees_a_change_of_one_bit(dtype):
    x = torch.ones(1, 2, dtype=dtype)
    eps = torch.finfo(dtype).eps  # output 0 moves by one unit in the last place when input 1 changes

    def fn(x):
        return torch.stack([torch.where(x[:, 1] == 1, x[:, 0], x[:, 0] * (1 + eps)), x[:, 1]], dim=1)

    leaks = find_leaks(fn, x, torch.eye(2, dtype=torch.bool))  # each output may depend on its own input
    assert leaks.int().tolist() == [[[0, 1], [0, 0]]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_scaled_dot_product_attention_does_not_leak(dtype):
    q = torch.randn(3, 2, T, 4, dtype=dtype)  # [B, heads, T, d]; the leak test changes the keys and values

    def attend(kv, mask):  # kv [B, T, heads, d]
        kv = kv.transpose(1, 2)
        return sdpa(q, kv, kv, mask)[0].transpose(1, 2)  # [B, T, heads, d]

    kv = torch.randn(3, T, 2, 4, dtype=dtype)
    pad = padding_mask(LENGTHS, max_len=T)  # [B, 1, 1, T]
    assert not find_leaks(lambda kv: attend(kv, pad), kv, _padding_allowed()).any()
    assert not find_leaks(lambda kv: attend(kv, combine_masks(pad, causal_mask(T))), kv,
                          _causal_padding_allowed()).any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_multi_head_attention_does_not_leak(dtype):
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2).to(dtype).eval()
    x = torch.randn(3, T, 8, dtype=dtype)
    pad = padding_mask(LENGTHS, max_len=T)
    assert not find_leaks(lambda x: mha(x, x, x, pad)[0], x, _padding_allowed()).any()
    mask = combine_masks(pad, causal_mask(T))
    assert not find_leaks(lambda x: mha(x, x, x, mask)[0], x, _causal_padding_allowed()).any()
    # Without the mask every output depends on everything: the test is not vacuous.
    assert find_leaks(lambda x: mha(x, x, x)[0], x, _padding_allowed()).sum() > 0


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_and_stack_do_not_leak_padding(norm_first):
    torch.manual_seed(0)
    layer = EncoderLayer(8, 2, 16, norm_first=norm_first).eval()
    stack = Encoder(8, 2, 16, num_layers=2, norm_first=norm_first).eval()
    x = torch.randn(3, T, 8)
    pad = padding_mask(LENGTHS, max_len=T)
    assert not find_leaks(lambda x: layer(x, pad)[0], x, _padding_allowed()).any()
    assert not find_leaks(lambda x: stack(x, pad)[0], x, _padding_allowed()).any()


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_and_stack_do_not_leak_the_future_or_the_padding(norm_first):
    torch.manual_seed(0)
    layer = DecoderLayer(8, 2, 16, norm_first=norm_first).eval()
    stack = Decoder(8, 2, 16, num_layers=2, norm_first=norm_first).eval()
    x, memory = torch.randn(3, T, 8), torch.randn(3, 4, 8)
    memory_pad = padding_mask(torch.tensor([4, 2, 1]), max_len=4)  # [B, 1, 1, S]
    tgt_mask = combine_masks(padding_mask(LENGTHS, max_len=T), causal_mask(T))
    for model in (layer, stack):
        # the target: causal and padded
        def target(x, model=model):
            return model(x, memory, tgt_mask, memory_pad)[0]

        def source(m, model=model):
            return model(x, m, tgt_mask, memory_pad)[0]

        assert not find_leaks(target, x, _causal_padding_allowed()).any()
        # the memory: every target position may read every real source position, never the source's padding
        allowed = memory_pad[:, 0].expand(3, T, 4)
        assert not find_leaks(source, memory, allowed).any()


# Three classic broken masks, each caught by the leak test.

def _attention(x, mask, bug=None):
    """Self-attention with identity projections, and optionally one of three classic mask bugs."""
    scores = x @ x.transpose(-2, -1) / math.sqrt(x.size(-1))  # [B, T, T]
    if bug == "after softmax":  # the weights of the other keys still depend on the masked scores
        return (torch.softmax(scores, dim=-1) * mask) @ x
    if bug == "on queries":  # hides the padded queries (rows) instead of the padded keys (columns)
        return masked_softmax(scores, mask.transpose(-2, -1)) @ x
    return masked_softmax(scores, mask) @ x


def test_the_leak_test_catches_three_broken_masks():
    x = torch.randn(3, T, 4)
    real = _real()  # [B, 1, T]
    causal = causal_mask(T)
    assert not find_leaks(lambda x: _attention(x, causal), x, causal).any()  # correct: no leak
    assert not find_leaks(lambda x: _attention(x, real), x, _padding_allowed()).any()
    # 1. the wrong diagonal: tril(diagonal=1) lets position i see i + 1
    wrong_diagonal = torch.ones(T, T, dtype=torch.bool).tril(diagonal=1)
    leaks = find_leaks(lambda x: _attention(x, wrong_diagonal), x, causal)
    assert torch.equal(leaks.any(0), torch.ones(T, T, dtype=torch.bool).tril(1) & ~causal)  # exactly i -> i + 1
    # 2. the mask applied after the softmax
    leaks = find_leaks(lambda x: _attention(x, causal, bug="after softmax"), x, causal)
    assert torch.equal(leaks, (~causal).expand(3, T, T))  # every future key moves the denominator
    # 3. the padding mask on the queries: every real query of a padded sequence sees the padding
    leaks = find_leaks(lambda x: _attention(x, real, bug="on queries"), x, _padding_allowed())
    for b, n in enumerate(LENGTHS.tolist()):
        assert leaks[b, :n, n:].all() and not leaks[b, n:].any()


def test_find_leaks_rejects_bad_arguments():
    x = torch.randn(2, 3, 4)
    with pytest.raises(TypeError, match="fn: expected a function of x, got int"):
        find_leaks(3, x, causal_mask(3))
    with pytest.raises(TypeError, match="x: expected a floating-point tensor, got torch.int64"):
        find_leaks(lambda x: x, torch.ones(2, 3, dtype=torch.long), causal_mask(3))
    with pytest.raises(TypeError, match=r"allowed: expected a boolean tensor \(True = may attend\), got torch.float32"):
        find_leaks(lambda x: x, x, causal_mask(3).float())
    with pytest.raises(ValueError, match=r"allowed: shape \(4, 4\) does not broadcast to \[B, T_out, T_in\] = "
                                         r"\(2, 3, 3\)"):
        find_leaks(lambda x: x, x, causal_mask(4))
    with pytest.raises(ValueError, match=r"fn: expected a deterministic function .*call \.eval\(\)"):
        find_leaks(lambda x: torch.nn.functional.dropout(x, 0.5), x, causal_mask(3))
    with pytest.raises(ValueError, match=r"fn\(x\): expected dimension 0 of size 2 \(the batch size of x\)"):
        find_leaks(lambda x: x[:1], x, causal_mask(3))


# --- exact messages and edges of the masks (each kills mutants that `make mutation` found surviving)


def test_padding_mask_messages_are_exact():
    tok = torch.tensor([[1, 0]])
    with raises(ValueError, "pad_id: expected the id of the padding token when tokens is given, got None"):
        padding_mask(tokens=tok)
    with raises(ValueError, "max_len: expected None when tokens is given (the mask has their length), got 3"):
        padding_mask(tokens=tok, pad_id=0, max_len=3)
    with raises(ValueError, "pad_id: expected None when lengths is given (it goes with tokens), got 0"):
        padding_mask(torch.tensor([1]), pad_id=0)
    with raises(ValueError, "lengths: expected 1 dimensions [batch], got shape (1, 1)"):
        padding_mask(torch.tensor([[1]]))
    with raises(ValueError, "max_len: expected an int >= 0, got -1"):
        padding_mask(torch.tensor([0]), max_len=-1)
    with raises(ValueError, "lengths: expected values in [0, max_len=3], got [5]"):
        padding_mask(torch.tensor([5]), max_len=3)  # a batch of one is checked too


def test_padding_mask_empty_batch_and_zero_length():
    for lengths in ([], torch.zeros(0, dtype=torch.long)):
        mask = padding_mask(lengths)  # no sequences: max_len defaults to 0
        assert mask.shape == (0, 1, 1, 0) and mask.dtype == torch.bool
    assert padding_mask(torch.zeros(0, dtype=torch.long), max_len=2).shape == (0, 1, 1, 2)
    assert padding_mask(torch.tensor([0]), max_len=0).shape == (1, 1, 1, 0)  # max_len 0 is allowed


def test_masks_are_made_on_the_device_of_their_input():
    """The meta device stands in for an accelerator: a mask made on the CPU would not combine with it."""
    assert causal_mask(3, device="meta").device.type == "meta"
    assert padding_mask(torch.zeros(0, dtype=torch.long, device="meta"), max_len=3).device.type == "meta"


def test_find_leaks_messages_are_exact():
    x = torch.randn(2, 3)
    allowed = causal_mask(3)
    with raises(ValueError, "x: expected at least 2 dimensions [batch, length, ...], got shape (3,)"):
        find_leaks(lambda x: x, torch.randn(3), allowed)
    with raises(ValueError, "seed: expected an int in [0, 9223372036854775807], got -1"):
        find_leaks(lambda x: x, x, allowed, seed=-1)
    with raises(TypeError, "fn(x): expected a torch.Tensor, got int"):
        find_leaks(lambda x: 1, x, allowed)
    with raises(ValueError, "fn(x): expected at least 2 dimensions [batch, length, ...], got shape (2,)"):
        find_leaks(lambda x: x.sum(1), x, allowed)
    with raises(ValueError, "fn: expected a deterministic function (two calls on the same x differ; "
                            "is dropout on? call .eval())"):
        find_leaks(lambda x: x + torch.randn_like(x), x, allowed)
    assert not find_leaks(lambda x: x.cumsum(1), x, allowed, seed=2**63 - 1).any()  # the largest seed


def test_find_leaks_replacement_values_come_from_the_seed_alone():
    """Whether a value-dependent leak is seen depends on the replacement drawn: it is the one drawn from
    ``torch.Generator().manual_seed(seed)`` with the shape of one position, whatever the global RNG state."""
    x = torch.zeros(1, 3, 2, dtype=torch.float64)
    fn = lambda x: x + (x[:, :1, 1:2] > 0).to(x.dtype)  # noqa: E731  every output sees feature 1 of position 0
    eye = torch.eye(3, dtype=torch.bool)
    seen, expected = [], []
    torch.manual_seed(12345)
    for seed in range(16):
        replacement = torch.randn(2, generator=torch.Generator().manual_seed(seed))  # position 0, drawn first
        leaks = find_leaks(fn, x, eye, seed=seed)
        assert not leaks[:, :, 1:].any() and not leaks[0, 0, 0]
        assert bool(leaks[0, 1:, 0].all()) == bool(leaks[0, 1:, 0].any())  # outputs 1 and 2 change together
        seen.append(bool(leaks[0, 1:, 0].any()))
        expected.append(bool(replacement[1] > 0))
    assert seen == expected and 0 < sum(expected) < 16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_find_leaks_on_cuda():
    x = torch.randn(2, 3, 4, device="cuda")
    leaks = find_leaks(lambda x: x.cumsum(1), x, causal_mask(3))
    assert leaks.device.type == "cuda" and not leaks.any()


def test_find_leaks_default_seed_is_zero():
    """A leak seen only when position 0 takes exactly the value that seed 0 draws for it: seen by default."""
    x = torch.zeros(1, 3, 2, dtype=torch.float64)
    c = torch.randn(2, generator=torch.Generator().manual_seed(0))[1].double()
    fn = lambda x: x + (x[:, :1, 1:2] == c).to(x.dtype)  # noqa: E731
    eye = torch.eye(3, dtype=torch.bool)
    assert find_leaks(fn, x, eye)[0, 1:, 0].all() and find_leaks(fn, x, eye, seed=0)[0, 1:, 0].all()
    assert not find_leaks(fn, x, eye, seed=1).any()


def test_find_leaks_works_on_the_device_of_x_whatever_the_default_device():
    """Every tensor find_leaks makes is made on x's device: with another default device (here meta, as after
    ``torch.set_default_device("cuda")``) a CPU input is still tested on the CPU."""
    x, allowed = torch.randn(2, 3, 4), causal_mask(3)
    with torch.device("meta"):
        leaks = find_leaks(lambda x: x.cumsum(1), x, allowed)
    assert leaks.device.type == "cpu" and not leaks.any()


# ----------------------------------------------------------------------------------------------------
# sliding windows


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("size, window", [(1, 1), (5, 1), (7, 3), (6, 10)])
def test_sliding_window_mask_equals_the_definition_entry_by_entry(size, window, causal):
    mask = sliding_window_mask(size, window, causal=causal)
    for i in range(size):
        for j in range(size):
            expected = (0 <= i - j < window) if causal else abs(i - j) < window
            assert bool(mask[i, j]) == expected
    if causal and window >= size:
        assert torch.equal(mask, causal_mask(size))  # a window as long as the sequence is the causal mask


def test_sliding_window_receptive_field_grows_by_window_minus_one_per_layer():
    mask = sliding_window_mask(20, 4).long()
    reach = torch.eye(20, dtype=torch.long)
    for layers in range(1, 5):
        reach = (mask @ reach).clamp(max=1)  # which inputs can influence each position after `layers` layers
        assert int(reach[19].nonzero().min()) == 19 - layers * 3


def test_sliding_window_mask_is_causal_by_default_and_names_size():
    assert torch.equal(sliding_window_mask(5, 2), sliding_window_mask(5, 2, causal=True))
    assert not torch.equal(sliding_window_mask(5, 2), sliding_window_mask(5, 2, causal=False))
    with raises(ValueError, "size: expected a positive integer, got 0"):
        sliding_window_mask(0, 2)


@pytest.mark.parametrize("causal", [True, False])
def test_sliding_window_mask_is_made_on_the_given_device(causal):
    """The meta device stands in for an accelerator: both position ranges are made there."""
    assert sliding_window_mask(4, 2, causal=causal, device="meta").device.type == "meta"
