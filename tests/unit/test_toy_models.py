"""qkv.toy_models: shapes, what each model computes, bad input, and what it can learn (the chapters' claims)."""

import math
from functools import partial

import pytest
import torch

from qkv import tasks, toy_models, train
from qkv.attention import scaled_dot_product_attention
from qkv.train import fit

from .reference import raises


@pytest.fixture
def one_thread():
    # Tiny tensors train several times faster on one thread than on a busy machine's many.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------------------------------
# OneLayerAttention (chapter 2)


@pytest.mark.parametrize("score", toy_models.OneLayerAttention.SCORES)
def test_one_layer_attention_shapes_and_weights(score):
    torch.manual_seed(0)
    model = toy_models.OneLayerAttention(vocab_size=7, seq_len=6, d_model=8, d_k=4, score=score)
    logits, weights = model(torch.randint(7, (3, 5)))  # shorter than seq_len is fine
    assert logits.shape == (3, 5, 7)
    assert weights.shape == (3, 5, 5)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(3, 5))


def test_shared_scores_are_symmetric_and_separate_are_not():
    torch.manual_seed(0)
    tokens = torch.randint(10, (2, 8))
    for score, symmetric in [("shared", True), ("dot", False)]:
        model = toy_models.OneLayerAttention(10, 8, d_model=16, score=score)
        x = model.token_embedding(tokens) + model.position_embedding(torch.arange(8))
        scores = model.w_q(x) @ model.w_k(x).transpose(1, 2)
        assert torch.allclose(scores, scores.transpose(1, 2)) == symmetric
    shared = toy_models.OneLayerAttention(10, 8, score="shared")
    assert shared.w_k is shared.w_q
    assert sum(p.numel() for p in shared.parameters()) < sum(
        p.numel() for p in toy_models.OneLayerAttention(10, 8, score="dot").parameters()
    )


def test_one_layer_attention_rejects_bad_arguments():
    with raises(ValueError, "score: expected one of 'dot', 'shared', 'additive', got 'cosine'"):
        toy_models.OneLayerAttention(10, 8, score="cosine")
    with raises(ValueError, "d_model: expected a positive integer, got 0"):
        toy_models.OneLayerAttention(10, 8, d_model=0)
    model = toy_models.OneLayerAttention(10, 4)
    with raises(ValueError, "tokens: expected a length from 1 to 4 (seq_len), got shape (2, 5)"):
        model(torch.zeros(2, 5, dtype=torch.long))
    with raises(TypeError, "tokens: expected an integer tensor, got torch.float32"):
        model(torch.zeros(2, 3))
    with raises(ValueError, "tokens: expected 2 dimensions [batch, length], got shape (3,)"):
        model(torch.zeros(3, dtype=torch.long))


def test_separate_matrices_learn_the_ring_and_a_shared_matrix_cannot(one_thread):
    # The chapter's experiment, shortened: on a ring, copying the previous token needs asymmetric scores.
    batches = partial(tasks.previous_token_batch, batch_size=64, seq_len=6, vocab_size=8)
    test = tasks.previous_token_batch(torch.Generator().manual_seed(99), 500, 6, 8)
    accuracy = {}
    for score in ["dot", "shared"]:
        torch.manual_seed(0)
        model = toy_models.OneLayerAttention(8, 6, d_model=16, score=score)
        fit(model, batches, train.token_cross_entropy, steps=150, lr=1e-2, seed=0, log_every=0)
        accuracy[score] = train.token_accuracy(model, *test)
    assert accuracy["dot"] > 0.95
    assert accuracy["shared"] < 0.6


# ----------------------------------------------------------------------------------------------------
# LookupAttention (chapter 3)


@pytest.mark.parametrize("scaled", [True, False])
def test_lookup_attention_scores_are_scaled_only_when_asked(scaled):
    torch.manual_seed(0)
    model = toy_models.LookupAttention(16, 8, d_model=8, d_k=64, scaled=scaled)
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
    model = toy_models.LookupAttention(16, 8, d_model=16, d_k=64, scaled=True)
    fit(model, tasks.key_value_lookup_batch, train.token_cross_entropy, steps=200, lr=3e-3, log_every=0)
    inputs, targets = tasks.key_value_lookup_batch(torch.Generator().manual_seed(9), 500)
    assert train.token_accuracy(model, inputs, targets) > 0.95


def test_lookup_attention_rejects_bad_inputs():
    model = toy_models.LookupAttention(16, 8, d_model=4, d_k=8)
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
        toy_models.LookupAttention(16, 8, scaled=1)


# ----------------------------------------------------------------------------------------------------
# MultiHeadReader (chapter 4)


@pytest.mark.parametrize("num_heads", [1, 2, 4, 8])
def test_reader_parameter_count_does_not_depend_on_the_number_of_heads(num_heads):
    counts = {sum(p.numel() for p in toy_models.MultiHeadReader(10, 8, 32, h).parameters()) for h in (1, num_heads)}
    assert len(counts) == 1
    attention = toy_models.MultiHeadReader(None, 8, 32, num_heads).attention
    assert sum(p.numel() for p in attention.parameters()) == 4 * 32 * 32 + 4 * 32


def test_reader_shapes_for_tokens_and_for_numbers():
    logits, weights = toy_models.MultiHeadReader(10, 8, 16, 2)(torch.randint(10, (3, 5)))
    assert logits.shape == (3, 5, 10) and weights.shape == (3, 2, 5, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 2, 5))
    outputs, weights = toy_models.MultiHeadReader(None, 8, 16, 4)(torch.randn(3, 8))
    assert outputs.shape == (3, 8) and weights.shape == (3, 4, 8, 8)


def test_reader_rejects_bad_inputs():
    tokens_model, numbers_model = toy_models.MultiHeadReader(10, 4, 8, 2), toy_models.MultiHeadReader(None, 4, 8, 2)
    with raises(ValueError, "inputs: expected ids in [0, vocab_size=10), got ids from 0 to 10"):
        tokens_model(torch.tensor([[0, 10]]))
    with raises(TypeError, "inputs: expected an integer tensor, got torch.float32"):
        tokens_model(torch.randn(1, 3))
    with raises(TypeError, "inputs: expected a floating-point tensor, got torch.int64"):
        numbers_model(torch.zeros(1, 3, dtype=torch.long))
    with raises(ValueError, "inputs: sequence length 5 is longer than the positional table (max_len=4), got shape (1, 5)"):  # noqa: E501
        numbers_model(torch.randn(1, 5))
    with raises(ValueError, "d_model: expected a multiple of 3 (num_heads), got 8"):
        toy_models.MultiHeadReader(None, 4, 8, 3)


def test_two_heads_beat_one_on_first_minus_previous():
    """The chapter's result: one head passes on one weighted average of the numbers, two heads two."""
    errors = {}
    for heads in (1, 2):
        torch.manual_seed(0)
        model = toy_models.MultiHeadReader(None, seq_len=8, d_model=32, num_heads=heads)
        fit(model, tasks.first_minus_previous_batch, train.masked_mse, steps=400, lr=3e-3, log_every=0)
        x, targets = tasks.first_minus_previous_batch(torch.Generator().manual_seed(9), 500)
        errors[heads] = train.masked_mse(model, x, targets).item()
    assert errors[2] < 0.002 and errors[1] > 5 * errors[2]


# ----------------------------------------------------------------------------------------------------
# PositionalReader (chapter 5)


@pytest.mark.parametrize("positional", toy_models.PositionalReader.POSITIONAL)
def test_positional_reader_is_causal_for_every_encoding(positional):
    torch.manual_seed(0)
    model = toy_models.PositionalReader(11, positional, d_model=16, num_heads=2, max_len=20).eval()
    tokens = torch.randint(11, (3, 12))
    logits, weights = model(tokens)
    assert logits.shape == (3, 12, 11) and weights.shape == (3, 2, 12, 12)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 12))
    assert torch.equal(weights.triu(1), torch.zeros_like(weights))  # no future keys
    # A prefix's outputs do not depend on what follows it.
    torch.testing.assert_close(model(tokens[:, :7])[0], logits[:, :7])


def test_positional_reader_without_positions_is_blind_to_the_order_of_the_past():
    torch.manual_seed(0)
    model = toy_models.PositionalReader(11, "none", d_model=16, num_heads=2).eval()
    tokens = torch.randint(11, (2, 6))
    shuffled = torch.cat([tokens[:, [3, 0, 4, 1, 2]], tokens[:, 5:]], dim=1)  # the last token keeps its place
    torch.testing.assert_close(model(shuffled)[0][:, -1], model(tokens)[0][:, -1])


def test_positional_reader_parameters_per_encoding():
    count = lambda p: sum(t.numel() for t in toy_models.PositionalReader(10, p, 16, 2, max_len=20,  # noqa: E731
                                                                        max_distance=3).parameters())
    base = count("none")
    assert count("sinusoidal") == count("rope") == count("alibi") == base
    assert count("learned") == base + 20 * 16
    assert count("relative") == base + (2 * 3 + 1) * 8


def test_positional_reader_rejects_bad_arguments():
    with raises(ValueError, "positional: expected one of 'none', 'sinusoidal', 'learned', 'relative', 'rope', "
                            "'alibi', got 'nope'"):
        toy_models.PositionalReader(10, "nope")
    model = toy_models.PositionalReader(10, "learned", max_len=8)
    with pytest.raises(ValueError, match="longer than the positional table"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_relative_positions_generalise_and_learned_ones_do_not(one_thread):
    batch = partial(tasks.copy_back_batch, batch_size=64, seq_len=12, vocab_size=12, offset=2)
    test = tasks.copy_back_batch(torch.Generator().manual_seed(99), 200, 36, 12, offset=2)
    accuracy = {}
    for positional in ("relative", "learned"):
        torch.manual_seed(0)
        model = toy_models.PositionalReader(12, positional, d_model=32, num_heads=4, max_len=36)
        fit(model, batch, train.token_cross_entropy, steps=200, lr=5e-3, log_every=0)
        logits, _ = model(test[0])
        correct = (logits.argmax(-1) == test[1])[:, 2:]
        accuracy[positional] = (correct[:, :10].float().mean().item(), correct[:, 10:].float().mean().item())
    assert accuracy["relative"][0] > 0.95 and accuracy["relative"][1] > 0.95
    assert accuracy["learned"][0] > 0.95 and accuracy["learned"][1] < 0.5  # rows beyond 12 were never trained


# ----------------------------------------------------------------------------------------------------
# DeepEncoder (chapter 6)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("norm", ["layer", "rms"])
def test_deep_encoder_is_embedding_positions_encoder_readout(norm_first, norm):
    torch.manual_seed(0)
    model = toy_models.DeepEncoder(12, d_model=16, num_heads=2, d_ff=32, num_layers=3, norm_first=norm_first,
                                   norm=norm)
    tokens = torch.randint(12, (2, 7))
    logits, weights = model(tokens)
    x = model.token_embedding(tokens) + model.position.pe[:7]
    h, _ = model.encoder(x)
    torch.testing.assert_close(logits, model.readout(h))
    assert logits.shape == (2, 7, 12) and len(weights) == 3 and weights[0].shape == (2, 2, 7, 7)
    assert (model.encoder.norm is not None) == norm_first
    kinds = {type(m).__name__ for m in model.modules()} & {"LayerNorm", "RMSNorm"}
    assert kinds == {"LayerNorm" if norm == "layer" else "RMSNorm"}


def test_deep_encoder_learns_copy_back(one_thread):
    torch.manual_seed(0)
    model = toy_models.DeepEncoder(16, d_model=32, num_heads=4, d_ff=64, num_layers=2, norm_first=True)
    batch = partial(tasks.copy_back_batch, batch_size=32, seq_len=12, vocab_size=16)
    fit(model, batch, train.token_cross_entropy, steps=150, lr=1e-2, log_every=0)
    tokens, targets = batch(torch.Generator().manual_seed(99))
    assert train.token_accuracy(model, tokens, targets) > 0.9


def test_deep_encoder_rejects_bad_arguments():
    with raises(ValueError, "norm: expected one of 'layer', 'rms', got 'batch'"):
        toy_models.DeepEncoder(10, norm="batch")
    message = "tokens: sequence length 9 is longer than the positional table (max_len=8), got shape (1, 9)"
    with raises(ValueError, message):
        toy_models.DeepEncoder(10, max_len=8)(torch.zeros(1, 9, dtype=torch.long))

@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_recurrent_reader_fused_and_qkv_compute_the_same_function(cell):
    from qkv.tasks import recall_batch, recall_vocab_size
    from qkv.toy_models import RecurrentReader

    torch.manual_seed(0)
    ours = RecurrentReader(recall_vocab_size(), cell, hidden_size=6, d_embed=5)
    fused = RecurrentReader(recall_vocab_size(), cell, hidden_size=6, d_embed=5, fused=True)
    fused.load_state_dict(ours.state_dict())
    ours, fused = ours.double(), fused.double()  # float64: agreement to 1e-10, not to float32's rounding
    tokens, _ = recall_batch(torch.Generator().manual_seed(0), 4, distance=9)
    a, b = ours(tokens)[0], fused(tokens)[0]
    torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    grads = [torch.autograd.grad(x.sum(), list(m.parameters())) for x, m in ((a, ours), (b, fused))]
    for x, y in zip(*grads, strict=True):
        torch.testing.assert_close(x, y, atol=1e-10, rtol=0)


def test_recurrent_reader_learns_to_recall_over_a_short_distance():
    from qkv.tasks import recall_batch, recall_vocab_size
    from qkv.toy_models import RecurrentReader
    from qkv.train import fit, token_accuracy, token_cross_entropy

    torch.manual_seed(0)
    model = RecurrentReader(recall_vocab_size(), "gru", hidden_size=16, d_embed=8, fused=True)
    fit(model, lambda g: recall_batch(g, 32, distance=4), token_cross_entropy, steps=150, log_every=0)
    assert token_accuracy(model, *recall_batch(torch.Generator().manual_seed(9), 256, distance=4)) > 0.9
