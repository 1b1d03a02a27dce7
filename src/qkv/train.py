"""A small training loop for the book's toy tasks: a few hundred steps on a laptop CPU, with progress.

The chapters train tiny models in seconds to show an effect (a shared W_Q = W_K that cannot learn a
task, scaling that keeps gradients alive, several heads that beat one). This module keeps that loop
in one place so each chapter shows only the model and the task. It is deliberately plain: Adam, a
fixed number of steps, one batch drawn per step, and a printed line every so often so that a reader
watching the notebook sees it move.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
from torch import nn


def fit(
    model: nn.Module,
    batch_fn: Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    steps: int = 300,
    lr: float = 1e-2,
    seed: int = 0,
    log_every: int | None = None,
    name: str = "",
) -> list[float]:
    """Train ``model`` for ``steps`` Adam steps and return the loss after each step.

    Args:
        model: any module; it is put in training mode.
        batch_fn: ``batch_fn(generator) -> (inputs, targets)`` draws one batch; the generator is
            seeded with ``seed`` so two runs see the same batches.
        loss_fn: ``loss_fn(model, inputs, targets) -> scalar loss``.
        steps: number of optimisation steps.
        lr: Adam's learning rate.
        seed: seeds both the batches and ``torch.manual_seed`` (dropout, if any).
        log_every: print a progress line every this many steps (default: 5 lines per run; 0 = silent).
        name: a label for the progress lines.

    Returns:
        the training loss at each step, a list of ``steps`` floats.

    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(2, 1)
    >>> def batch(g):
    ...     x = torch.randn(32, 2, generator=g)
    ...     return x, x.sum(dim=1, keepdim=True)
    >>> mse = lambda m, x, y: nn.functional.mse_loss(m(x), y)
    >>> losses = fit(model, batch, mse, steps=200, lr=0.05, log_every=0)
    >>> losses[-1] < 1e-3 < losses[0]
    True
    """
    if steps <= 0:
        raise ValueError(f"steps: expected a positive number of steps, got {steps}")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    log_every = max(1, steps // 5) if log_every is None else log_every
    model.train()
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        inputs, targets = batch_fn(generator)
        loss = loss_fn(model, inputs, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if log_every and (step % log_every == 0 or step == steps):
            label = f"{name}: " if name else ""
            print(f"{label}step {step:>5}/{steps}  loss {loss.item():.4f}  ({time.perf_counter() - start:.1f} s)")
    model.eval()
    return losses
