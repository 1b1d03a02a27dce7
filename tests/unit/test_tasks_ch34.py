"""qkv.tasks, chapters 3 and 4: the key-value look-up, the first-and-previous tasks and their models."""

import math
import re

import pytest
import torch

from qkv import tasks
from qkv.attention import scaled_dot_product_attention
from qkv.train import fit


def raises(exc, message):
    return pytest.raises(exc, match="^" + re.escape(message) + "$")


# ----------------------------------------------------------------------------------------------------
# Chapter 3: key_value_lookup_batch and LookupAttention


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


@pytest.mark.parametrize("scaled", [True, False])
def test_lookup_attention_scores_are_scaled_only_when_asked(scaled):
    torch.manual_seed(0)
    model = tasks.LookupAttention(16, 8, d_model=8, d_k=64, scaled=scaled)
    (keys, values, query), _ = tasks.key_value_lookup_batch(torch.Generator().manual_seed(1), 5)
    logits, weights = model((keys, values, query))
    assert logits.shape == (5, 1, 8) and weights.shape == (5, 1, 8)
    x = model.key_embedding(keys) + model.value_embedding(values)
    q, k = model.w_q(model.key_embedding(query)), model.w_k(x)
    expected = torch.softmax(q @ k.transpose(1, 2) / (math.sqrt(64) if scaled else 1.0), dim=-1)
    assert torch.allclose(weights, expected, atol=1e-6)
    _, reference = scaled_dot_product_attention(q, k, model.w_v(x), scale=None if scaled else 1.0)
    assert torch.allclose(weights, reference)


def test_scaled_lookup_learns_the_task_quickly():
    torch.manual_seed(0)
    model = tasks.LookupAttention(16, 8, d_model=16, d_k=64, scaled=True)
    fit(model, tasks.key_value_lookup_batch, tasks.token_cross_entropy, steps=200, lr=3e-3, log_every=0)
    inputs, targets = tasks.key_value_lookup_batch(torch.Generator().manual_seed(9), 500)
    assert tasks.token_accuracy(model, inputs, targets) > 0.95


def test_lookup_attention_rejects_bad_inputs():
    model = tasks.LookupAttention(16, 8, d_model=4, d_k=8)
    keys, values = torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long)
    with raises(TypeError, "inputs: expected a tuple (keys [B, P], values [B, P], query [B, 1]), got Tensor"):
        model(keys)
    with raises(ValueError, "query: expected shape (2, 1) [batch, 1], got (2,)"):
        model((keys, values, torch.zeros(2, dtype=torch.long)))
    with raises(ValueError, "values: expected the shape of keys (2, 3), got (2, 4)"):
        model((keys, torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 1, dtype=torch.long)))
    with raises(ValueError, "keys: expected ids in [0, vocab_size=16), got ids from 0 to 16"):
        model((torch.tensor([[0, 16, 2]] * 2), values, torch.zeros(2, 1, dtype=torch.long)))
    with raises(TypeError, "scaled: expected a bool, got int 1"):
        tasks.LookupAttention(16, 8, scaled=1)


# ----------------------------------------------------------------------------------------------------
# Chapter 4: first_and_previous_batch, first_minus_previous_batch, MultiHeadReader


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


@pytest.mark.parametrize("num_heads", [1, 2, 4, 8])
def test_reader_parameter_count_does_not_depend_on_the_number_of_heads(num_heads):
    counts = {sum(p.numel() for p in tasks.MultiHeadReader(10, 8, 32, h).parameters()) for h in (1, num_heads)}
    assert len(counts) == 1
    attention = tasks.MultiHeadReader(None, 8, 32, num_heads).attention
    assert sum(p.numel() for p in attention.parameters()) == 4 * 32 * 32 + 4 * 32


def test_reader_shapes_for_tokens_and_for_numbers():
    logits, weights = tasks.MultiHeadReader(10, 8, 16, 2)(torch.randint(10, (3, 5)))
    assert logits.shape == (3, 5, 10) and weights.shape == (3, 2, 5, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 2, 5))
    outputs, weights = tasks.MultiHeadReader(None, 8, 16, 4)(torch.randn(3, 8))
    assert outputs.shape == (3, 8) and weights.shape == (3, 4, 8, 8)


def test_reader_rejects_bad_inputs():
    tokens_model, numbers_model = tasks.MultiHeadReader(10, 4, 8, 2), tasks.MultiHeadReader(None, 4, 8, 2)
    with raises(ValueError, "inputs: expected ids in [0, vocab_size=10), got ids from 0 to 10"):
        tokens_model(torch.tensor([[0, 10]]))
    with raises(TypeError, "inputs: expected an integer tensor, got torch.float32"):
        tokens_model(torch.randn(1, 3))
    with raises(TypeError, "inputs: expected a floating-point tensor, got torch.int64"):
        numbers_model(torch.zeros(1, 3, dtype=torch.long))
    with raises(ValueError, "inputs: sequence length 5 is longer than the positional table (max_len=4), got shape (1, 5)"):
        numbers_model(torch.randn(1, 5))
    with raises(ValueError, "d_model: expected a multiple of 3 (num_heads), got 8"):
        tasks.MultiHeadReader(None, 4, 8, 3)


def test_masked_mse_and_within_tolerance_skip_the_nan_targets():
    class Echo(torch.nn.Module):  # predicts its input
        def forward(self, x):
            return x, None

    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    targets = torch.tensor([[float("nan"), float("nan"), 3.05, 5.0]])
    assert tasks.masked_mse(Echo(), x, targets).item() == pytest.approx((0.05**2 + 1.0) / 2)
    assert tasks.within_tolerance(Echo(), x, targets) == 0.5
    assert tasks.within_tolerance(Echo(), x, targets, tolerance=2.0) == 1.0


def test_two_heads_beat_one_on_first_minus_previous():
    """The chapter's result: one head passes on one weighted average of the numbers, two heads two."""
    errors = {}
    for heads in (1, 2):
        torch.manual_seed(0)
        model = tasks.MultiHeadReader(None, seq_len=8, d_model=32, num_heads=heads)
        fit(model, tasks.first_minus_previous_batch, tasks.masked_mse, steps=400, lr=3e-3, log_every=0)
        x, targets = tasks.first_minus_previous_batch(torch.Generator().manual_seed(9), 500)
        errors[heads] = tasks.masked_mse(model, x, targets).item()
    assert errors[2] < 0.002 and errors[1] > 5 * errors[2]
