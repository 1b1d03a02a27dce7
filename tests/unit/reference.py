"""Shared helpers for comparing qkv with its PyTorch references."""

import re

import pytest
import torch

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
DTYPES = [torch.float32, torch.float64]


def assert_close(actual, expected):
    torch.testing.assert_close(actual, expected, atol=TOL[expected.dtype], rtol=0)


def leaf(*shape, dtype, gen=None):
    return torch.randn(*shape, dtype=dtype, generator=gen).requires_grad_()


# Tolerances for comparing with PyTorch in any dtype, written down once.
#
# qkv and PyTorch compute the same formula in the same working precision (float32 for float16 and
# bfloat16 inputs, the input's dtype otherwise) but not in the same order. Each output is a reduction
# over ``n`` terms (a dot product, a mean): rounding errors of two summation orders behave like a random
# walk, about ``sqrt(n)`` units in the last place of the result's magnitude ``scale``, and each side then
# rounds once more to the output dtype. ``4 * eps * sqrt(n) * scale`` allows two units for each side. For
# float16/bfloat16 the final rounding (one unit of the output dtype) dominates and the bound is looser
# than needed; for float32/float64 the random-walk term is the point. ``scale`` is the size of what was
# summed, computed by the test from the inputs (e.g. (1 + max |score|) * max |value| for attention,
# where an error in a score moves the softmax by at most as much).
LOW_PRECISION = [torch.float16, torch.bfloat16]
ALL_DTYPES = LOW_PRECISION + DTYPES


def tolerance(dtype, n, scale=1.0):
    """Absolute tolerance ``4 * torch.finfo(dtype).eps * sqrt(n) * max(scale, 1)`` (see above)."""
    return 4.0 * torch.finfo(dtype).eps * max(n, 1) ** 0.5 * max(float(scale), 1.0)


def raises(exc, message):
    """pytest.raises matching the whole message literally (no regex escaping in the tests)."""
    return pytest.raises(exc, match="^" + re.escape(message) + "$")
