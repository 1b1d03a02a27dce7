"""qkv.softmax: the Jacobian, the entropy, and the Jacobian's largest entry, for one row and for batches."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qkv.softmax import jacobian_max_abs, softmax_entropy, softmax_jacobian


def one_row_jacobian_max(p):
    """The per-row implementation jacobian_max_abs had before it took batches (the reference)."""
    n = p.numel()
    others = torch.stack([torch.cat((p[:i], p[i + 1:])).sum() for i in range(n)])
    diagonal = (p * others).max()
    top2 = torch.topk(p, min(2, n)).values
    off_diagonal = top2[0] * top2[1] if n > 1 else torch.zeros((), dtype=p.dtype)
    return float(torch.maximum(diagonal, off_diagonal))


def exact_jacobian_max(p):
    """max(max_i p_i (1 - p_i), max_{i != j} p_i p_j) in exact decimal arithmetic on the float64 values of p."""
    with localcontext() as context:
        context.prec = 1000  # enough digits to hold 1 + 1e-300 exactly
        values = [Decimal(float(x)) for x in p]
        total = sum(values)  # the row's own sum, so that 1 - p_i is the sum of the others, exactly
        diagonal = max(v * (total - v) for v in values)
        top = sorted(values, reverse=True)
        off = top[0] * top[1] if len(top) > 1 else Decimal(0)
        return float(max(diagonal, off))


def test_softmax_jacobian_is_diag_minus_outer_product():
    p = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    expected = torch.diag(p) - torch.outer(p, p)
    torch.testing.assert_close(softmax_jacobian(p), expected)
    z = torch.tensor([0.1, -0.4, 1.2], dtype=torch.float64)
    auto = torch.autograd.functional.jacobian(lambda x: torch.softmax(x, -1), z)
    torch.testing.assert_close(softmax_jacobian(torch.softmax(z, -1)), auto)
    assert softmax_jacobian(torch.rand(2, 5, 4)).shape == (2, 5, 4, 4)  # batched


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=1, max_size=12))
def test_readouts_stay_in_their_ranges(logits):
    p = torch.softmax(torch.tensor(logits, dtype=torch.float64), -1)
    n = len(logits)
    assert 0 <= jacobian_max_abs(p).item() <= 0.25 + 1e-12
    assert -1e-12 <= softmax_entropy(p).item() <= math.log(n) + 1e-9
    assert jacobian_max_abs(p).item() == pytest.approx(softmax_jacobian(p).abs().max().item(), abs=1e-15)


def test_jacobian_max_keeps_accuracy_when_saturated():
    # p = (1 - e, e) with e tiny: the answer is p0 * p1 ~ e, which 1 - p0 would round away.
    e = 1e-20
    p = torch.tensor([1.0, e], dtype=torch.float64)
    assert jacobian_max_abs(p).item() == pytest.approx(e, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(-800, 800), min_size=5, max_size=5), min_size=1, max_size=6))
def test_batched_jacobian_max_equals_the_one_row_implementation(logits):
    p = torch.softmax(torch.tensor(logits, dtype=torch.float64), -1)  # [rows, 5], many of them saturated
    batched = jacobian_max_abs(p)
    assert batched.shape == (len(logits),) and batched.dtype == torch.float64
    for row, value in zip(p, batched.tolist()):
        assert value == pytest.approx(one_row_jacobian_max(row), rel=1e-12, abs=0)


@pytest.mark.parametrize("gap", [5.0, 20.0, 40.0, 100.0, 300.0, 700.0])
def test_jacobian_max_matches_the_exact_formula_on_saturated_rows(gap):
    # one key far above the others: p_0 rounds to 1, and p_0 (1 - p_0) is about the others' total
    logits = torch.tensor([[gap, 0.0, -1.0, 0.5], [0.0, gap, gap - 3.0, -gap], [gap, 0.0, 0.0, 0.0]],
                          dtype=torch.float64)
    p = torch.softmax(logits, -1)
    got = jacobian_max_abs(p)
    for row, value in zip(p, got.tolist()):
        assert value == pytest.approx(exact_jacobian_max(row), rel=1e-13, abs=0)
    assert jacobian_max_abs(p[None].expand(2, 3, 4)).shape == (2, 3)  # any batch shape [..., n]


def test_jacobian_max_of_a_single_key_is_zero():
    assert jacobian_max_abs(torch.ones(3, 1, dtype=torch.float64)).tolist() == [0.0, 0.0, 0.0]


def test_entropy_takes_batches_and_sets_0_log_0_to_0():
    p = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    assert softmax_entropy(p).tolist() == [math.log(2), 0.0]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: jacobian_max_abs(torch.tensor([], dtype=torch.float64)), ValueError, "empty"),
        (lambda: jacobian_max_abs(torch.ones(2, 0)), ValueError, r"p: expected at least one probability, got an empty last dimension in shape \(2, 0\)"),  # noqa: E501
        (lambda: jacobian_max_abs(torch.tensor(0.5)), ValueError, r"p: expected at least 1 dimensions \[\.\.\., n\]"),
        (lambda: jacobian_max_abs(torch.ones(2, dtype=torch.long)), TypeError, "p: expected a floating-point tensor"),
        (lambda: softmax_entropy([0.5, 0.5]), TypeError, "p: expected a torch.Tensor, got list"),
    ],
)
def test_softmax_module_rejects_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
