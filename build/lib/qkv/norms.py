"""Normalisation layers written out: LayerNorm, BatchNorm1d and RMSNorm.

All three rescale activations to a standard size, then apply a learned per-feature gain ``weight``
(and, except RMSNorm, shift ``bias``). They differ in *what* they average over:

- ``LayerNorm``: the features of each position on its own, so it works the same for any batch size
  and in training or evaluation; this is what the Transformer uses.
- ``BatchNorm1d``: each feature over the batch (and length), so training and evaluation differ and it
  keeps running statistics.
- ``RMSNorm``: like LayerNorm without subtracting the mean (Llama, T5).

Parameter and buffer names match PyTorch's, so ``load_state_dict(torch_module.state_dict())`` works.
"""

import torch
from torch import nn

from qkv import checks


def _trailing_shape(normalized_shape):
    """``normalized_shape`` as a tuple of positive ints (an int ``n`` is ``(n,)``)."""
    if isinstance(normalized_shape, (tuple, list, torch.Size)):
        return tuple(checks.check_positive_int(f"normalized_shape[{i}]", n) for i, n in enumerate(normalized_shape))
    return (checks.check_positive_int("normalized_shape", normalized_shape),)


def _opmath(x):
    """``x`` in at least float32: PyTorch accumulates a norm's statistics in float32 for float16 and
    bfloat16 inputs (the squares of values above 256 overflow float16), then rounds the result once."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _check_trailing(name, x, shape):
    checks.check_float(name, x)
    if x.dim() < len(shape) or tuple(x.shape[x.dim() - len(shape):]) != shape:
        raise ValueError(f"{name}: expected trailing dimensions {shape}, got shape {tuple(x.shape)}")


class LayerNorm(nn.Module):
    """Layer normalisation (Ba et al. 2016): normalise each position over its features.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, with the mean and the (biased) variance taken
    over the last ``len(normalized_shape)`` dimensions.

    Shapes: ``forward(x [..., *normalized_shape]) -> same shape``.

    >>> ln = LayerNorm(3)
    >>> ln(torch.tensor([[1.0, 2.0, 3.0]]))
    tensor([[-1.2247,  0.0000,  1.2247]], grad_fn=<AddBackward0>)
    """

    def __init__(self, normalized_shape, eps=1e-5, bias=True):
        super().__init__()
        self.normalized_shape = _trailing_shape(normalized_shape)
        self.eps = checks.check_number("eps", eps, low=0.0)
        checks.check_flag("bias", bias)
        self.weight = nn.Parameter(torch.ones(self.normalized_shape))
        self.bias = nn.Parameter(torch.zeros(self.normalized_shape)) if bias else None

    def forward(self, x):
        _check_trailing("x", x, self.normalized_shape)
        checks.check_module_dtype("x", x, self.weight.dtype, low_precision_ok=True)
        dims = tuple(range(-len(self.normalized_shape), 0))
        xf = _opmath(x)  # float16 / bfloat16 -> float32; no change for float32 and float64
        mean = xf.mean(dim=dims, keepdim=True)
        var = xf.var(dim=dims, unbiased=False, keepdim=True)  # biased: divide by n, as PyTorch does
        y = (xf - mean) / torch.sqrt(var + self.eps) * self.weight
        return (y + self.bias if self.bias is not None else y).to(x.dtype)


class BatchNorm1d(nn.Module):
    """Batch normalisation (Ioffe and Szegedy 2015) for ``[B, C]`` or ``[B, C, L]`` inputs.

    Training: each channel is normalised with the mean and (biased) variance of the current batch, taken
    over the batch (and length) dimensions, and the running estimates move towards them:
    ``running = (1 - momentum) * running + momentum * batch_statistic``. The running variance uses the
    *unbiased* batch variance (divide by n - 1), exactly as PyTorch does. ``momentum=None`` gives a
    cumulative average instead. Evaluation: the running estimates are used, so a sample's output no
    longer depends on the rest of its batch.

    Buffers: ``running_mean``, ``running_var`` ``[C]`` and ``num_batches_tracked`` (an integer).

    >>> bn = BatchNorm1d(2)
    >>> y = bn(torch.tensor([[1.0, 10.0], [3.0, 30.0]]))
    >>> bn.running_mean, bn.running_var, int(bn.num_batches_tracked)
    (tensor([0.2000, 2.0000]), tensor([ 1.1000, 20.9000]), 1)
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        checks.check_positive_int("num_features", num_features)
        self.num_features = num_features
        self.eps = checks.check_number("eps", eps, low=0.0)
        self.momentum = None if momentum is None else checks.check_number("momentum", momentum, low=0.0, high=1.0)
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        checks.check_float("x", x)
        checks.check_ndim("x", x, (2, 3), "[batch, channels] or [batch, channels, length]")
        checks.check_size("x", x, 1, self.num_features, "num_features")
        checks.check_module_dtype("x", x, self.weight.dtype, low_precision_ok=True)
        dims = (0,) if x.dim() == 2 else (0, 2)  # every dimension except the channels
        shape = (1, -1) if x.dim() == 2 else (1, -1, 1)  # to broadcast [C] against x

        if self.training:
            n = x.numel() // self.num_features  # values per channel
            if n < 2:
                raise ValueError(f"x: expected more than 1 value per channel in training, got shape {tuple(x.shape)}")
            mean = _opmath(x).mean(dim=dims)  # in float32 for float16 / bfloat16 inputs, as PyTorch
            var = _opmath(x).var(dim=dims, unbiased=False)  # normalise with the biased variance...
            with torch.no_grad():  # ...but track the unbiased one; the running stats are not learned
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / self.num_batches_tracked.item()
                self.running_mean.mul_(1 - m).add_(m * mean)
                self.running_var.mul_(1 - m).add_(m * var * n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var

        x_hat = (_opmath(x) - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return (x_hat * self.weight.view(shape) + self.bias.view(shape)).to(x.dtype)


class RMSNorm(nn.Module):
    """Root-mean-square normalisation (Zhang and Sennrich 2019): ``y = x / rms(x) * weight``.

    ``rms(x) = sqrt(mean(x^2) + eps)`` over the last ``len(normalized_shape)`` dimensions. There is no
    mean subtraction and no bias: cheaper than LayerNorm and, in practice, as good. ``eps=None`` uses
    the machine epsilon of the dtype the statistics are computed in, as PyTorch does: float32's
    (``torch.finfo(torch.float32).eps``) for float16, bfloat16 and float32 inputs, float64's for float64.
    Any floating-point input works with any weight dtype, and the output has the input's dtype
    (as ``nn.RMSNorm``).

    Shapes: ``forward(x [..., *normalized_shape]) -> same shape``.

    >>> RMSNorm(2)(torch.tensor([[3.0, 4.0]]))
    tensor([[0.8485, 1.1314]], grad_fn=<MulBackward0>)
    """

    def __init__(self, normalized_shape, eps=None):
        super().__init__()
        self.normalized_shape = _trailing_shape(normalized_shape)
        self.eps = None if eps is None else checks.check_number("eps", eps, low=0.0)
        self.weight = nn.Parameter(torch.ones(self.normalized_shape))

    def forward(self, x):
        _check_trailing("x", x, self.normalized_shape)
        xf = _opmath(x)  # float16 / bfloat16 -> float32
        eps = self.eps if self.eps is not None else torch.finfo(xf.dtype).eps
        dims = tuple(range(-len(self.normalized_shape), 0))
        rms = torch.sqrt(xf.pow(2).mean(dim=dims, keepdim=True) + eps)
        return (xf / rms * self.weight).to(x.dtype)
