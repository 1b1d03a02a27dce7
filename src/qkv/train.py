"""A small training loop for the book's toy tasks: a few hundred steps on a laptop CPU, with progress.

The chapters train tiny models in seconds to show an effect (a shared W_Q = W_K that cannot learn a
task, scaling that keeps gradients alive, several heads that beat one). This module keeps that loop
in one place so each chapter shows only the model and the task. It is deliberately plain: Adam, a
fixed number of steps, one batch drawn per step, and a printed line every so often so that a reader
watching the notebook sees it move.

Next to it, the losses (``loss_fn(model, inputs, targets)``) and accuracies the chapters train and
score with, one pair per kind of target of :mod:`qkv.tasks`:

- :func:`token_cross_entropy`, :func:`token_accuracy`: class ids, skipping ``IGNORE_INDEX`` targets.
- :func:`masked_mse`, :func:`within_tolerance`: real numbers, skipping NaN targets.
- :func:`shifted_cross_entropy`: an encoder-decoder trained by teacher forcing (the target shifted right).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from qkv import checks
from qkv.tasks import IGNORE_INDEX


def fit(
    model: nn.Module,
    batch_fn: Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    steps: int = 300,
    lr: float = 1e-2,
    seed: int = 0,
    log_every: int | None = None,
    name: str = "",
    warmup: int = 0,
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
        warmup: linear learning-rate warm-up: step ``s`` (from 1) uses ``lr * min(1, s / warmup)``,
            so the rate climbs from ``lr / warmup`` to ``lr`` over the first ``warmup`` steps and
            stays there. ``0`` (the default) trains at ``lr`` from the first step.

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
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    for fn_name, fn in (("batch_fn", batch_fn), ("loss_fn", loss_fn)):
        if not callable(fn):
            raise TypeError(f"{fn_name}: expected a function, got {type(fn).__name__} {fn!r}")
    checks.check_positive_int("steps", steps)
    checks.check_number("lr", lr, low=0.0, low_open=True)
    checks.check_int("seed", seed)
    if log_every is not None:
        checks.check_int("log_every", log_every, low=0)
    checks.check_str("name", name)
    checks.check_int("warmup", warmup, low=0)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    # LambdaLR multiplies lr by the factor of its step index i = 0, 1, ...: step s = i + 1 of the loop.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: min(1.0, (i + 1) / warmup) if warmup else 1.0)
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
        scheduler.step()
        losses.append(loss.item())
        if log_every and (step % log_every == 0 or step == steps):
            label = f"{name}: " if name else ""
            print(f"{label}step {step:>5}/{steps}  loss {loss.item():.4f}  ({time.perf_counter() - start:.1f} s)")
    model.eval()
    return losses


# ---------------------------------------------------------------------------------------------------
# Losses and accuracies: token targets, then real-valued targets


def token_cross_entropy(model, tokens, targets):
    """Mean cross-entropy of ``model(tokens)`` over the positions whose target is not ``IGNORE_INDEX``.

    The signature ``(model, inputs, targets)`` is the ``loss_fn`` of :func:`qkv.train.fit`.

    >>> import math, torch
    >>> from qkv.tasks import previous_token_batch
    >>> from qkv.toy_models import OneLayerAttention
    >>> model = OneLayerAttention(vocab_size=10, seq_len=6)
    >>> tokens, targets = previous_token_batch(torch.Generator().manual_seed(0), 4, 6, ring=False)
    >>> loss = token_cross_entropy(model, tokens, targets)  # over the 4 x 5 positions with a target
    >>> loss.shape, loss.requires_grad                       # a scalar to call .backward() on
    (torch.Size([]), True)
    >>> uniform = lambda tokens: (torch.zeros(*tokens.shape, 10), None)  # logits [B, T, 10], all equal
    >>> math.isclose(token_cross_entropy(uniform, tokens, targets).item(), math.log(10), rel_tol=1e-6)
    True
    """
    _check_targets(model, targets, integer=True)
    logits, _ = model(tokens)
    _check_outputs("logits", logits, targets, extra=1)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)


@torch.no_grad()
def token_accuracy(model, tokens, targets):
    """Fraction of positions (skipping ``IGNORE_INDEX`` targets) where the most likely token is the target.

    >>> import torch
    >>> from qkv.tasks import previous_token_batch
    >>> from qkv.toy_models import OneLayerAttention
    >>> model = OneLayerAttention(vocab_size=10, seq_len=6)
    >>> tokens, targets = previous_token_batch(torch.Generator().manual_seed(0), 4, 6)
    >>> 0.0 <= token_accuracy(model, tokens, targets) <= 1.0
    True
    """
    _check_targets(model, targets, integer=True)
    logits, _ = model(tokens)
    _check_outputs("logits", logits, targets, extra=1)
    keep = targets != IGNORE_INDEX
    return (logits.argmax(dim=-1)[keep] == targets[keep]).float().mean().item()


def shifted_cross_entropy(model, src, tgt):
    """Teacher forcing for an encoder-decoder: the decoder reads ``tgt[:, :-1]`` and predicts ``tgt[:, 1:]``.

    ``tgt`` starts with a beginning-of-sequence token, so decoder position ``t`` has read
    ``tgt[:, :t + 1]`` (the causal mask hides the rest) and is scored on the next token ``tgt[:, t + 1]``:
    the target is *shifted right* as the decoder's input. Targets equal to ``IGNORE_INDEX`` are skipped.
    The signature ``(model, inputs, targets)`` is the ``loss_fn`` of :func:`qkv.train.fit`.

    Args:
        model: ``model(src [B, S], tgt_in [B, T - 1]) -> logits [B, T - 1, vocab]``, e.g. a
            ``qkv.transformer.Transformer``.
        src: ``[B, S]`` source token ids. tgt: ``[B, T]`` target token ids, ``T >= 2``.

    >>> import torch
    >>> seen = []
    >>> def spy(src, tgt_in):                  # records what the decoder is given; predicts uniformly
    ...     seen.append(tgt_in)
    ...     return torch.zeros(*tgt_in.shape, 5, requires_grad=True)
    >>> loss = shifted_cross_entropy(spy, torch.tensor([[3, 4]]), torch.tensor([[0, 1, 2]]))
    >>> seen[0].tolist(), round(loss.item(), 4)    # log 5 = 1.6094
    ([[0, 1]], 1.6094)
    """
    if not callable(model):
        raise TypeError(f"model: expected a callable model(src, tgt_in) -> logits, got {type(model).__name__}")
    checks.check_integer("src", src)
    checks.check_integer("tgt", tgt)
    checks.check_ndim("src", src, 2, "[batch, source length]")
    checks.check_ndim("tgt", tgt, 2, "[batch, target length]")
    checks.check_size("tgt", tgt, 0, src.size(0), "the batch size of src")
    if tgt.size(1) < 2:
        raise ValueError(f"tgt: expected at least 2 tokens (a start token and one to predict), got {tgt.size(1)}")
    logits = model(src, tgt[:, :-1])  # [B, T - 1, vocab]: position t has read tgt[:, :t + 1]
    _check_outputs("logits", logits, tgt[:, 1:], extra=1)
    return F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=IGNORE_INDEX)


def masked_mse(model, inputs, targets):
    """Mean squared error of ``model(inputs)[0]`` over the positions whose target is not NaN.

    The signature ``(model, inputs, targets)`` is the ``loss_fn`` of :func:`qkv.train.fit`.

    >>> import torch
    >>> from qkv.tasks import first_minus_previous_batch
    >>> from qkv.toy_models import MultiHeadReader
    >>> model = MultiHeadReader(vocab_size=None, seq_len=8)
    >>> x, targets = first_minus_previous_batch(torch.Generator().manual_seed(0), 4)
    >>> loss = masked_mse(model, x, targets)          # the NaN targets at positions 0 and 1 are skipped
    >>> loss.shape, bool(loss.isfinite())
    (torch.Size([]), True)
    >>> zero = lambda x: (torch.zeros_like(x), None)  # predicts 0 at every position
    >>> torch.allclose(masked_mse(zero, x, targets), targets[:, 2:].pow(2).mean())
    True
    """
    _check_targets(model, targets, integer=False)
    predictions, _ = model(inputs)
    _check_outputs("predictions", predictions, targets, extra=0)
    keep = ~targets.isnan()
    return F.mse_loss(predictions[keep], targets[keep])


@torch.no_grad()
def within_tolerance(model, inputs, targets, tolerance=0.1):
    """Fraction of the positions with a (non-NaN) target where ``|prediction - target| < tolerance``.

    An accuracy for real-valued answers.

    >>> import torch
    >>> from qkv.tasks import first_minus_previous_batch
    >>> from qkv.toy_models import MultiHeadReader
    >>> model = MultiHeadReader(vocab_size=None, seq_len=8)
    >>> x, targets = first_minus_previous_batch(torch.Generator().manual_seed(0), 4)
    >>> 0.0 <= within_tolerance(model, x, targets) <= 1.0
    True
    """
    _check_targets(model, targets, integer=False)
    checks.check_number("tolerance", tolerance, low=0.0, low_open=True)
    predictions, _ = model(inputs)
    _check_outputs("predictions", predictions, targets, extra=0)
    keep = ~targets.isnan()
    return ((predictions[keep] - targets[keep]).abs() < tolerance).float().mean().item()


def _check_targets(model, targets, integer):
    if not callable(model):
        raise TypeError(f"model: expected a callable returning (outputs, weights), got {type(model).__name__}")
    (checks.check_integer if integer else checks.check_float)("targets", targets)


def _check_outputs(name, outputs, targets, extra):
    """The model's ``outputs`` have the targets' shape (plus ``extra`` trailing dimensions: the classes)."""
    checks.check_tensor(name, outputs)
    if tuple(outputs.shape[: outputs.dim() - extra]) != tuple(targets.shape) or outputs.dim() != targets.dim() + extra:
        layout = "[*targets.shape, classes]" if extra else "[*targets.shape]"
        raise ValueError(f"{name}: expected shape {layout} with targets of shape {tuple(targets.shape)}, "
                         f"got {tuple(outputs.shape)}")
