"""Shared helpers for comparing qkv with its PyTorch references."""

import torch

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
DTYPES = [torch.float32, torch.float64]


def assert_close(actual, expected):
    torch.testing.assert_close(actual, expected, atol=TOL[expected.dtype], rtol=0)


def leaf(*shape, dtype, gen=None):
    return torch.randn(*shape, dtype=dtype, generator=gen).requires_grad_()
