"""qkv.train: the training loop, and the losses and accuracies the chapters train and score with."""

import pytest
import torch
from torch import nn

from qkv import tasks, toy_models, train
from qkv.train import fit


def _batch(g):
    x = torch.randn(16, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]])


def _mse(model, x, y):
    return nn.functional.mse_loss(model(x), y)


def test_same_seed_gives_the_same_losses():
    runs = []
    for _ in range(2):
        torch.manual_seed(123)  # the same initial weights
        runs.append(fit(nn.Linear(3, 1), _batch, _mse, steps=20, seed=7, log_every=0))
    assert runs[0] == runs[1]
    assert len(runs[0]) == 20


def test_progress_lines_are_printed(capsys):
    fit(nn.Linear(3, 1), _batch, _mse, steps=10, log_every=5, name="demo")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("demo: step     5/10")


def test_model_is_left_in_eval_mode():
    model = nn.Sequential(nn.Linear(3, 1), nn.Dropout(0.1))
    fit(model, _batch, _mse, steps=2, log_every=0)
    assert not model.training


class _Constant(nn.Module):
    """One parameter whose loss is its sum: the gradient is always 1, so Adam moves it by exactly the rate."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(1, dtype=torch.float64))


def test_warmup_climbs_linearly_to_the_learning_rate_then_stays():
    model, seen = _Constant(), []

    def loss_fn(m, x, y):
        seen.append(m.p.item())  # the value before each step
        return m.p.sum()

    fit(model, _batch, loss_fn, steps=7, lr=0.1, warmup=4, log_every=0)
    seen.append(model.p.item())
    moves = [a - b for a, b in zip(seen, seen[1:])]  # Adam with a constant gradient of 1 steps by lr_t
    assert moves == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.1], rel=1e-6)


def test_no_warmup_trains_at_the_learning_rate_from_the_first_step():
    model = _Constant()
    fit(model, _batch, lambda m, x, y: m.p.sum(), steps=2, lr=0.1, log_every=0)
    assert model.p.item() == pytest.approx(-0.2, rel=1e-6)


def test_steps_must_be_positive():
    with pytest.raises(ValueError, match="steps: expected a positive integer, got 0"):
        fit(nn.Linear(3, 1), _batch, _mse, steps=0)

# ----------------------------------------------------------------------------------------------------
# Losses and accuracies


def test_loss_and_accuracy_skip_ignored_positions():
    torch.manual_seed(0)
    model = toy_models.OneLayerAttention(5, 4, d_model=8)
    tokens, targets = tasks.previous_token_batch(torch.Generator().manual_seed(0), 8, 4, 5, ring=False)
    loss = train.token_cross_entropy(model, tokens, targets)
    logits, _ = model(tokens)
    expected = torch.nn.functional.cross_entropy(logits[:, 1:].flatten(0, 1), targets[:, 1:].flatten())
    torch.testing.assert_close(loss, expected)
    accuracy = train.token_accuracy(model, tokens, targets)
    assert accuracy == (logits[:, 1:].argmax(-1) == targets[:, 1:]).float().mean().item()


def test_masked_mse_and_within_tolerance_skip_the_nan_targets():
    class Echo(torch.nn.Module):  # predicts its input
        def forward(self, x):
            return x, None

    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    targets = torch.tensor([[float("nan"), float("nan"), 3.05, 5.0]])
    assert train.masked_mse(Echo(), x, targets).item() == pytest.approx((0.05**2 + 1.0) / 2)
    assert train.within_tolerance(Echo(), x, targets) == 0.5
    assert train.within_tolerance(Echo(), x, targets, tolerance=2.0) == 1.0


def test_shifted_cross_entropy_feeds_the_decoder_the_target_shifted_right():
    seen = []

    def spy(src, tgt_in):  # records what the decoder is given
        seen.append((src, tgt_in))
        return torch.zeros(*tgt_in.shape, 10, requires_grad=True)

    gen = torch.Generator().manual_seed(0)
    src, tgt = torch.randint(10, (4, 7), generator=gen), torch.randint(10, (4, 7), generator=gen)
    loss = train.shifted_cross_entropy(spy, src, tgt)
    assert seen[0][0] is src, "the encoder was not given the source"
    given = seen[0][1]
    what = ("the source" if torch.equal(given, src[:, :-1]) else "the whole target" if torch.equal(given, tgt)
            else "something else")
    assert torch.equal(given, tgt[:, :-1]), (
        f"the decoder was given a [{', '.join(map(str, given.shape))}] input that is not tgt[:, :-1], the target "
        f"shifted right ({what})")
    assert abs(loss.item() - torch.log(torch.tensor(10.0)).item()) < 1e-5

    def copier(src, tgt_in):  # predicts, with confidence, the token it has just read
        return 20.0 * nn.functional.one_hot(tgt_in, 10).float()

    # Scored on the *next* token, copying the current one cannot win (it would with an unshifted target).
    assert train.shifted_cross_entropy(copier, src, tgt).item() > 5.0


def test_shifted_cross_entropy_trains_a_transformer_on_teacher_forcing():
    from qkv.transformer import Transformer

    torch.manual_seed(0)
    model = Transformer(6, 6, d_model=16, num_heads=2, num_layers=1, d_ff=32, dropout=0.0)
    src = torch.randint(1, 6, (8, 5))
    tgt = torch.cat([torch.zeros(8, 1, dtype=torch.long), src], dim=1)  # [BOS] + a copy of the source
    losses = fit(model, lambda g: (src, tgt), train.shifted_cross_entropy, steps=60, lr=1e-2, log_every=0)
    assert losses[-1] < 0.5 * losses[0]
