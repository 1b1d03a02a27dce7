"""qkv.masks: padding and causal masks, and combining them."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qkv.masks import causal_mask, combine_masks, padding_mask


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
