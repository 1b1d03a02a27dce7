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
    return (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)


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
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.normalized_shape))
        self.bias = nn.Parameter(torch.zeros(self.normalized_shape)) if bias else None

    def forward(self, x):
        _check_trailing("x", x, self.normalized_shape)
        dims = tuple(range(-len(self.normalized_shape), 0))
        mean = x.mean(dim=dims, keepdim=True)
        var = x.var(dim=dims, unbiased=False, keepdim=True)  # biased: divide by n, as PyTorch does
        y = (x - mean) / torch.sqrt(var + self.eps) * self.weight
        return y + self.bias if self.bias is not None else y


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
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        checks.check_float("x", x)
        checks.check_ndim("x", x, (2, 3), "[batch, channels] or [batch, channels, length]")
        checks.check_size("x", x, 1, self.num_features, "num_features")
        dims = (0,) if x.dim() == 2 else (0, 2)  # every dimension except the channels
        shape = (1, -1) if x.dim() == 2 else (1, -1, 1)  # to broadcast [C] against x

        if self.training:
            n = x.numel() // self.num_features  # values per channel
            if n < 2:
                raise ValueError(f"x: expected more than 1 value per channel in training, got shape {tuple(x.shape)}")
            mean = x.mean(dim=dims)
            var = x.var(dim=dims, unbiased=False)  # normalise with the biased variance...
            with torch.no_grad():  # ...but track the unbiased one; the running stats are not learned
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / self.num_batches_tracked.item()
                self.running_mean.mul_(1 - m).add_(m * mean)
                self.running_var.mul_(1 - m).add_(m * var * n / (n - 1))
        else:
            mean, var = self.running_mean, self.running_var

        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return x_hat * self.weight.view(shape) + self.bias.view(shape)


class RMSNorm(nn.Module):
    """Root-mean-square normalisation (Zhang and Sennrich 2019): ``y = x / rms(x) * weight``.

    ``rms(x) = sqrt(mean(x^2) + eps)`` over the last ``len(normalized_shape)`` dimensions. There is no
    mean subtraction and no bias: cheaper than LayerNorm and, in practice, as good. ``eps=None`` uses
    ``torch.finfo(x.dtype).eps``, as PyTorch does.

    Shapes: ``forward(x [..., *normalized_shape]) -> same shape``.

    >>> RMSNorm(2)(torch.tensor([[3.0, 4.0]]))
    tensor([[0.8485, 1.1314]], grad_fn=<MulBackward0>)
    """

    def __init__(self, normalized_shape, eps=None):
        super().__init__()
        self.normalized_shape = _trailing_shape(normalized_shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.normalized_shape))

    def forward(self, x):
        _check_trailing("x", x, self.normalized_shape)
        eps = self.eps if self.eps is not None else torch.finfo(x.dtype).eps
        dims = tuple(range(-len(self.normalized_shape), 0))
        rms = torch.sqrt(x.pow(2).mean(dim=dims, keepdim=True) + eps)
        return x / rms * self.weight
