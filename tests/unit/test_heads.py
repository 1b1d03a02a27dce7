"""qkv.heads: head scores on synthetic attention maps whose answers are known."""

import math

import pytest
import torch

from qkv import heads

from .reference import raises


def shifted(T, offset):
    """Row i puts all its weight on key i + offset; a row without such a key attends to itself."""
    attn = torch.zeros(T, T)
    for i in range(T):
        j = i + offset
        attn[i, j if 0 <= j < T else i] = 1.0
    return attn


def uniform(*shape):
    return torch.full(shape, 1.0 / shape[-1])


# ----------------------------------------------------------------------------------------------------
# offset_score


@pytest.mark.parametrize("offset", [-3, -1, 0, 1, 2])
def test_a_shifted_identity_scores_one_at_its_offset_and_zero_elsewhere(offset):
    attn = shifted(7, offset)
    assert heads.offset_score(attn, offset).item() == 1.0
    for other in (-2, -1, 0, 1, 2):
        if other != offset:
            # each row has a single 1, at offset (or at 0 for the rows without such a key)
            rows_with_key = [i for i in range(7) if 0 <= i + other < 7]
            expected = sum(attn[i, i + other].item() for i in rows_with_key) / len(rows_with_key)
            assert heads.offset_score(attn, other).item() == pytest.approx(expected)


def test_offset_score_of_a_uniform_map_is_one_over_T():
    for T in (2, 5, 9):
        assert heads.offset_score(uniform(T, T), -1).item() == pytest.approx(1 / T)


def test_offset_score_leaves_out_queries_without_a_key():
    attn = shifted(5, -1)  # row 0 attends to itself, which offset -1 must ignore
    attn[0] = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0])
    assert heads.offset_score(attn, -1).item() == 1.0


def test_offset_score_keeps_the_leading_dimensions():
    stack = torch.stack([torch.stack([shifted(6, -1), uniform(6, 6), shifted(6, 1)])] * 2)  # [2, 3, 6, 6]
    scores = heads.offset_score(stack, -1)
    assert scores.shape == (2, 3)
    assert torch.allclose(scores[:, 0], torch.ones(2)) and torch.allclose(scores[:, 1], torch.full((2,), 1 / 6))
    assert torch.allclose(scores[:, 2], torch.zeros(2))


def test_offset_score_rejects_bad_arguments():
    with raises(ValueError, "offset: expected |offset| < T = 4 (the map's length), got 4"):
        heads.offset_score(uniform(4, 4), 4)
    with raises(TypeError, "offset: expected an int, got float 1.0"):
        heads.offset_score(uniform(4, 4), 1.0)
    with raises(ValueError, "attn: expected square maps [..., T, T] (self-attention), got shape (4, 3)"):
        heads.offset_score(uniform(4, 3), 1)
    with raises(TypeError, "attn: expected a floating-point tensor, got torch.int64"):
        heads.offset_score(torch.eye(3, dtype=torch.long), 1)


# ----------------------------------------------------------------------------------------------------
# key_mass


def test_key_mass_finds_a_cls_head_and_a_sep_head():
    T = 6
    cls, sep = torch.zeros(T, T), torch.zeros(T, T)
    cls[:, 0] = 1.0
    sep[:, -1] = 1.0
    assert heads.key_mass(cls, [0]).item() == 1.0 and heads.key_mass(cls, [-1]).item() == 0.0
    assert heads.key_mass(sep, [T - 1]).item() == 1.0 and heads.key_mass(sep, [-1]).item() == 1.0
    assert heads.key_mass(sep, [0, -1]).item() == 1.0


def test_key_mass_of_a_uniform_map_is_the_fraction_of_keys():
    assert heads.key_mass(uniform(3, 8, 8), [0, 2, 5]).tolist() == pytest.approx([3 / 8] * 3)


def test_key_mass_averages_over_the_queries():
    attn = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    assert heads.key_mass(attn, [0]).item() == pytest.approx(0.5)


def test_key_mass_rejects_bad_positions():
    attn = uniform(4, 4)
    with raises(ValueError, "positions: expected positions in [-4, 4) for T = 4, got 4"):
        heads.key_mass(attn, [4])
    with raises(ValueError, "positions: expected distinct positions, got [3, -1] (T = 4)"):
        heads.key_mass(attn, [3, -1])
    with raises(TypeError, "positions: expected a non-empty list of ints, got []"):
        heads.key_mass(attn, [])
    with raises(TypeError, "positions[0]: expected an int, got float 0.0"):
        heads.key_mass(attn, [0.0])


# ----------------------------------------------------------------------------------------------------
# attention_entropy


def test_entropy_is_one_for_uniform_rows_and_zero_for_one_hot_rows():
    assert heads.attention_entropy(uniform(2, 5, 5)).tolist() == pytest.approx([1.0, 1.0])
    assert heads.attention_entropy(shifted(5, -1)).item() == 0.0
    assert heads.attention_entropy(uniform(5, 5), normalize=False).item() == pytest.approx(math.log(5))


def test_entropy_of_rows_split_over_two_keys_is_log_two():
    attn = torch.zeros(4, 4)
    attn[:, :2] = 0.5
    assert heads.attention_entropy(attn, normalize=False).item() == pytest.approx(math.log(2))
    assert heads.attention_entropy(attn).item() == pytest.approx(0.5)  # log 2 / log 4


def test_entropy_rejects_a_single_key_when_normalising():
    with raises(ValueError, "attn: normalize=True needs T >= 2 keys (log 1 = 0), got shape (1, 1)"):
        heads.attention_entropy(torch.ones(1, 1))
    assert heads.attention_entropy(torch.ones(1, 1), normalize=False).item() == 0.0


# ----------------------------------------------------------------------------------------------------
# profile_heads and best_head


def synthetic_model(T):
    """A fake 2-layer, 3-head model: each head has one known pattern."""
    cls = torch.zeros(T, T)
    cls[:, 0] = 1.0
    sep = torch.zeros(T, T)
    sep[:, -1] = 1.0
    return torch.stack([
        torch.stack([shifted(T, -1), uniform(T, T), cls]),  # layer 0: previous, broad, [CLS]
        torch.stack([shifted(T, 1), sep, shifted(T, 0)]),  # layer 1: next, [SEP], self
    ])


def test_profile_finds_every_planted_head_across_sentences_of_different_lengths():
    scores = heads.profile_heads([synthetic_model(T) for T in (5, 8, 11)])
    assert set(scores) == set(heads.PATTERNS)
    expected = {"previous": (0, 0), "entropy": (0, 1), "cls": (0, 2), "next": (1, 0), "sep": (1, 1), "self": (1, 2)}
    for pattern, (layer, head) in expected.items():
        found = heads.best_head(scores[pattern])
        assert found[:2] == (layer, head), pattern
        assert found[2] == pytest.approx(1.0), pattern


def test_profile_averages_the_per_sentence_scores():
    a, b = uniform(1, 1, 4, 4), uniform(1, 1, 10, 10)
    scores = heads.profile_heads([a, b])
    assert scores["previous"].item() == pytest.approx((1 / 4 + 1 / 10) / 2)


def test_profile_rejects_inconsistent_maps():
    with raises(ValueError, "maps[1]: expected (2, 3) layers and heads (as maps[0]), got shape (2, 2, 5, 5)"):
        heads.profile_heads([uniform(2, 3, 5, 5), uniform(2, 2, 5, 5)])
    with raises(ValueError, "maps[0]: expected 4 dimensions [layers, heads, T, T], got shape (5, 5)"):
        heads.profile_heads([uniform(5, 5)])
    with raises(TypeError, "maps: expected a non-empty list of [layers, heads, T, T] tensors, got Tensor"):
        heads.profile_heads(uniform(1, 1, 5, 5))
    with raises(TypeError, "maps: expected a non-empty list of [layers, heads, T, T] tensors, got list"):
        heads.profile_heads([])


def test_best_head_returns_plain_python_numbers():
    layer, head, score = heads.best_head(torch.tensor([[0.0, 3.0, 1.0], [2.0, -1.0, 0.5]]))
    assert (layer, head, score) == (0, 1, 3.0) and type(layer) is int and type(score) is float
    assert heads.best_head(torch.tensor([[0.0, 3.0, 1.0], [2.0, -1.0, 0.5]]), largest=False) == (1, 1, -1.0)
    with raises(ValueError, "scores: expected 2 dimensions [layers, heads], got shape (3,)"):
        heads.best_head(torch.zeros(3))
