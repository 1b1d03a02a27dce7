"""qkv.tasks: every task's sequences and targets, reproducibility, and bad arguments."""

import pytest
import torch

from qkv import tasks

from .reference import raises

# ----------------------------------------------------------------------------------------------------
# Token targets: previous_token_batch


@pytest.mark.parametrize("ring", [True, False])
def test_previous_token_targets_are_the_left_neighbours(ring):
    tokens, targets = tasks.previous_token_batch(torch.Generator().manual_seed(0), 5, 7, 4, ring=ring)
    assert tokens.shape == targets.shape == (5, 7)
    assert tokens.dtype == targets.dtype == torch.int64
    assert tokens.min() >= 0 and tokens.max() < 4
    assert torch.equal(targets[:, 1:], tokens[:, :-1])
    expected_first = tokens[:, -1] if ring else torch.full((5,), tasks.IGNORE_INDEX)
    assert torch.equal(targets[:, 0], expected_first)


def test_previous_token_batch_is_reproducible():
    a = tasks.previous_token_batch(torch.Generator().manual_seed(3))
    b = tasks.previous_token_batch(torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_previous_token_batch_rejects_bad_arguments():
    g = torch.Generator()
    with raises(TypeError, "generator: expected a torch.Generator, got int"):
        tasks.previous_token_batch(0)
    with raises(ValueError, "seq_len: expected at least 2 positions (one needs a left neighbour), got 1"):
        tasks.previous_token_batch(g, seq_len=1)
    with raises(ValueError, "batch_size: expected a positive integer, got 0"):
        tasks.previous_token_batch(g, batch_size=0)
    with raises(TypeError, "vocab_size: expected a positive integer, got float 2.5"):
        tasks.previous_token_batch(g, vocab_size=2.5)


# ----------------------------------------------------------------------------------------------------
# Token targets: key_value_lookup_batch


def test_lookup_batch_has_distinct_keys_and_the_query_s_value_as_target():
    (keys, values, query), targets = tasks.key_value_lookup_batch(torch.Generator().manual_seed(0), 50, 6, 9, 4)
    assert keys.shape == values.shape == (50, 6) and query.shape == targets.shape == (50, 1)
    assert all(x.dtype == torch.int64 for x in (keys, values, query, targets))
    assert keys.min() >= 0 and keys.max() < 9 and values.min() >= 0 and values.max() < 4
    assert all(len(set(row.tolist())) == 6 for row in keys)  # distinct keys in each dictionary
    match = keys == query
    assert torch.equal(match.sum(1), torch.ones(50, dtype=torch.int64))
    assert torch.equal(values[match], targets[:, 0])


def test_lookup_batch_is_reproducible_and_uses_every_pair():
    a = tasks.key_value_lookup_batch(torch.Generator().manual_seed(4), 400)
    b = tasks.key_value_lookup_batch(torch.Generator().manual_seed(4), 400)
    assert all(torch.equal(x, y) for x, y in zip(a[0] + (a[1],), b[0] + (b[1],)))
    (keys, _, query), _ = a
    asked = (keys == query).float().argmax(1)
    assert set(asked.tolist()) == set(range(8))


def test_lookup_batch_rejects_bad_arguments():
    g = torch.Generator()
    with raises(ValueError, "num_pairs: expected at most num_symbols = 4 (keys are distinct), got 5"):
        tasks.key_value_lookup_batch(g, 2, num_pairs=5, num_symbols=4)
    with raises(TypeError, "generator: expected a torch.Generator, got int"):
        tasks.key_value_lookup_batch(0)
    with raises(ValueError, "num_values: expected a positive integer, got 0"):
        tasks.key_value_lookup_batch(g, num_values=0)


# ----------------------------------------------------------------------------------------------------
# Token and real-valued targets: first_and_previous_batch, first_minus_previous_batch


def test_first_and_previous_targets():
    tokens, targets = tasks.first_and_previous_batch(torch.Generator().manual_seed(0), 30, 6, 7)
    assert tokens.shape == targets.shape == (30, 6) and tokens.max() < 7
    assert (targets[:, :2] == tasks.IGNORE_INDEX).all()
    for i in range(2, 6):
        assert torch.equal(targets[:, i], (tokens[:, 0] - tokens[:, i - 1]) % 7)


def test_first_minus_previous_targets():
    x, targets = tasks.first_minus_previous_batch(torch.Generator().manual_seed(0), 30, 6)
    assert x.dtype == targets.dtype == torch.float32 and x.shape == targets.shape == (30, 6)
    assert targets[:, :2].isnan().all() and not targets[:, 2:].isnan().any()
    for i in range(2, 6):
        assert torch.equal(targets[:, i], x[:, 0] - x[:, i - 1])


@pytest.mark.parametrize("batch_fn", [tasks.first_and_previous_batch, tasks.first_minus_previous_batch])
def test_two_relation_batches_reject_short_sequences(batch_fn):
    with raises(ValueError, "seq_len: expected at least 3 positions (position 2 is the first with a target), got 2"):
        batch_fn(torch.Generator(), 4, 2)
    with raises(TypeError, "generator: expected a torch.Generator, got NoneType"):
        batch_fn(None)


# ----------------------------------------------------------------------------------------------------
# Token targets: copy_back_batch and token_at_batch (chapter 5)


@pytest.mark.parametrize("offset", [1, 2, 5])
def test_copy_back_targets_are_the_tokens_offset_places_back(offset):
    tokens, targets = tasks.copy_back_batch(torch.Generator().manual_seed(0), 4, 9, 7, offset=offset)
    assert tokens.shape == targets.shape == (4, 9) and tokens.dtype == targets.dtype == torch.int64
    assert tokens.min() >= 0 and tokens.max() < 7
    for i in range(9):
        expected = tokens[:, i - offset] if i >= offset else torch.full((4,), tasks.IGNORE_INDEX)
        assert torch.equal(targets[:, i], expected)


def test_token_at_targets_are_the_token_at_the_fixed_position():
    tokens, targets = tasks.token_at_batch(torch.Generator().manual_seed(0), 4, 9, 7, position=3)
    assert torch.equal(targets[:, :3], torch.full((4, 3), tasks.IGNORE_INDEX))
    assert torch.equal(targets[:, 3:], tokens[:, 3:4].expand(4, 6))


def test_copy_back_and_token_at_are_reproducible_and_reject_bad_arguments():
    for fn in (tasks.copy_back_batch, tasks.token_at_batch):
        a, b = fn(torch.Generator().manual_seed(3)), fn(torch.Generator().manual_seed(3))
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    g = torch.Generator()
    with raises(ValueError, "seq_len: expected more than offset = 2 positions (one needs a target), got 2"):
        tasks.copy_back_batch(g, seq_len=2)
    with raises(ValueError, "offset: expected a positive integer, got 0"):
        tasks.copy_back_batch(g, offset=0)
    with raises(ValueError, "seq_len: expected more than position = 4 positions, got 4"):
        tasks.token_at_batch(g, seq_len=4, position=4)
    with raises(TypeError, "generator: expected a torch.Generator, got int"):
        tasks.token_at_batch(1)


@pytest.mark.parametrize("distance", [1, 2, 7])
def test_recall_batch_puts_the_symbol_distance_steps_before_the_query(distance):
    import torch

    from qkv.tasks import IGNORE_INDEX, recall_batch, recall_vocab_size

    tokens, targets = recall_batch(torch.Generator().manual_seed(0), 50, distance, num_symbols=4, num_noise=3)
    assert tokens.shape == targets.shape == (50, distance + 1)
    assert ((tokens[:, 0] >= 0) & (tokens[:, 0] < 4)).all()
    assert ((tokens[:, 1:-1] >= 4) & (tokens[:, 1:-1] < 7)).all()
    assert (tokens[:, -1] == 7).all() and tokens.max() < recall_vocab_size(4, 3) == 8
    assert torch.equal(targets[:, -1], tokens[:, 0]) and (targets[:, :-1] == IGNORE_INDEX).all()
    assert len(tokens[:, 0].unique()) == 4  # every symbol is drawn


# ----------------------------------------------------------------------------------------------------
# Sequence to sequence: reversal_batch


def test_reversal_batch_reverses_and_frames():
    src, tgt_in, tgt_out = tasks.reversal_batch(torch.Generator().manual_seed(0), 5, 6)
    assert src.shape == (5, 6) and tgt_in.shape == tgt_out.shape == (5, 7)
    assert src.dtype == tgt_in.dtype == tgt_out.dtype == torch.int64
    assert src.min() >= 2 and src.max() <= 11
    for row in range(5):
        assert tgt_out[row, :-1].tolist() == src[row].tolist()[::-1]
    assert (tgt_in[:, 0] == 0).all() and (tgt_out[:, -1] == 1).all()
    assert torch.equal(tgt_in[:, 1:], tgt_out[:, :-1])  # teacher forcing: the output shifted by one


def test_reversal_batch_is_reproducible():
    a = tasks.reversal_batch(torch.Generator().manual_seed(3), 4, 5)
    b = tasks.reversal_batch(torch.Generator().manual_seed(3), 4, 5)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
