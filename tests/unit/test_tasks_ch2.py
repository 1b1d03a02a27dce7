"""qkv.tasks, chapter 2: the previous-token task and the one-layer attention model trained on it."""

import re
from functools import partial

import pytest
import torch

from qkv import tasks
from qkv.train import fit


def raises(exc, message):
    return pytest.raises(exc, match="^" + re.escape(message) + "$")


# ----------------------------------------------------------------------------------------------------
# previous_token_batch


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
# OneLayerAttention


@pytest.mark.parametrize("score", tasks.OneLayerAttention.SCORES)
def test_one_layer_attention_shapes_and_weights(score):
    torch.manual_seed(0)
    model = tasks.OneLayerAttention(vocab_size=7, seq_len=6, d_model=8, d_k=4, score=score)
    logits, weights = model(torch.randint(7, (3, 5)))  # shorter than seq_len is fine
    assert logits.shape == (3, 5, 7)
    assert weights.shape == (3, 5, 5)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(3, 5))


def test_shared_scores_are_symmetric_and_separate_are_not():
    torch.manual_seed(0)
    tokens = torch.randint(10, (2, 8))
    for score, symmetric in [("shared", True), ("dot", False)]:
        model = tasks.OneLayerAttention(10, 8, d_model=16, score=score)
        x = model.token_embedding(tokens) + model.position_embedding(torch.arange(8))
        scores = model.w_q(x) @ model.w_k(x).transpose(1, 2)
        assert torch.allclose(scores, scores.transpose(1, 2)) == symmetric
    shared = tasks.OneLayerAttention(10, 8, score="shared")
    assert shared.w_k is shared.w_q
    assert sum(p.numel() for p in shared.parameters()) < sum(
        p.numel() for p in tasks.OneLayerAttention(10, 8, score="dot").parameters()
    )


def test_one_layer_attention_rejects_bad_arguments():
    with raises(ValueError, "score: expected one of 'dot', 'shared', 'additive', got 'cosine'"):
        tasks.OneLayerAttention(10, 8, score="cosine")
    with raises(ValueError, "d_model: expected a positive integer, got 0"):
        tasks.OneLayerAttention(10, 8, d_model=0)
    model = tasks.OneLayerAttention(10, 4)
    with raises(ValueError, "tokens: expected a length from 1 to 4 (seq_len), got shape (2, 5)"):
        model(torch.zeros(2, 5, dtype=torch.long))
    with raises(TypeError, "tokens: expected an integer tensor, got torch.float32"):
        model(torch.zeros(2, 3))
    with raises(ValueError, "tokens: expected 2 dimensions [batch, length], got shape (3,)"):
        model(torch.zeros(3, dtype=torch.long))


# ----------------------------------------------------------------------------------------------------
# loss, accuracy and the chapter's claim


def test_loss_and_accuracy_skip_ignored_positions():
    torch.manual_seed(0)
    model = tasks.OneLayerAttention(5, 4, d_model=8)
    tokens, targets = tasks.previous_token_batch(torch.Generator().manual_seed(0), 8, 4, 5, ring=False)
    loss = tasks.token_cross_entropy(model, tokens, targets)
    logits, _ = model(tokens)
    expected = torch.nn.functional.cross_entropy(logits[:, 1:].flatten(0, 1), targets[:, 1:].flatten())
    torch.testing.assert_close(loss, expected)
    accuracy = tasks.token_accuracy(model, tokens, targets)
    assert accuracy == (logits[:, 1:].argmax(-1) == targets[:, 1:]).float().mean().item()


@pytest.fixture
def one_thread():
    # Tiny tensors train several times faster on one thread than on a busy machine's many.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_separate_matrices_learn_the_ring_and_a_shared_matrix_cannot(one_thread):
    # The chapter's experiment, shortened: on a ring, copying the previous token needs asymmetric scores.
    batches = partial(tasks.previous_token_batch, batch_size=64, seq_len=6, vocab_size=8)
    test = tasks.previous_token_batch(torch.Generator().manual_seed(99), 500, 6, 8)
    accuracy = {}
    for score in ["dot", "shared"]:
        torch.manual_seed(0)
        model = tasks.OneLayerAttention(8, 6, d_model=16, score=score)
        fit(model, batches, tasks.token_cross_entropy, steps=150, lr=1e-2, seed=0, log_every=0)
        accuracy[score] = tasks.token_accuracy(model, *test)
    assert accuracy["dot"] > 0.95
    assert accuracy["shared"] < 0.6
