import pytest
import torch
from torch import nn

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


def test_steps_must_be_positive():
    with pytest.raises(ValueError, match="steps: expected a positive number of steps, got 0"):
        fit(nn.Linear(3, 1), _batch, _mse, steps=0)
