"""qkv.recurrence against direct computations: linear attention's two forms, and a recurrence's loop and scan."""

import pytest
import torch
import torch.nn.functional as F

from qkv.recurrence import (
    elu_feature_map,
    linear_attention,
    linear_attention_recurrent,
    linear_attention_step,
    linear_recurrence_loop,
    linear_recurrence_scan,
    scan_rounds,
)

from .reference import DTYPES, assert_close, leaf


def direct_linear_attention(q, k, v, causal):
    """Katharopoulos et al.'s eq. (2), one query at a time, in plain loops over the keys."""
    phi = lambda x: F.elu(x) + 1  # noqa: E731
    T = q.size(-2)
    out = torch.empty(*q.shape[:-1], v.size(-1), dtype=q.dtype)
    for i in range(T):
        last = i + 1 if causal else T
        w = torch.stack([(phi(q[..., i, :]) * phi(k[..., j, :])).sum(-1) for j in range(last)], dim=-1)
        out[..., i, :] = (w.unsqueeze(-1) * v[..., :last, :]).sum(-2) / w.sum(-1, keepdim=True)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [True, False])
def test_linear_attention_equals_the_direct_sum(dtype, causal):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 6, d, dtype=dtype, generator=g) for d in (4, 4, 5))
    assert_close(linear_attention(q, k, v, causal=causal), direct_linear_attention(q, k, v, causal))


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_recurrent_form_equals_the_parallel_form_with_gradients(dtype):
    g = torch.Generator().manual_seed(1)
    q, k, v = (leaf(2, 7, d, dtype=dtype, gen=g) for d in (3, 3, 4))
    par, rec = linear_attention(q, k, v), linear_attention_recurrent(q, k, v)
    assert_close(rec, par)
    grad = torch.randn_like(par)
    for a, b in zip(torch.autograd.grad(rec, (q, k, v), grad), torch.autograd.grad(par, (q, k, v), grad)):
        assert_close(a, b)


def test_the_state_does_not_grow_and_the_step_continues_a_prefix():
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(1, 9, d, generator=g) for d in (4, 4, 2))
    state, sizes = None, set()
    for t in range(9):
        out, state = linear_attention_step(q[:, t], k[:, t], v[:, t], state)
        sizes.add(tuple(state[0].shape) + tuple(state[1].shape))
    assert sizes == {(1, 4, 2, 1, 4)}
    assert_close(out, linear_attention(q, k, v)[:, -1])


def test_the_feature_map_is_positive():
    x = torch.linspace(-10, 30, 101)  # (far below -10, elu(x) + 1 = e^x rounds to 0 in float32)
    assert (elu_feature_map(x) > 0).all() and torch.equal(elu_feature_map(torch.ones(1)), torch.tensor([2.0]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T", [1, 2, 5, 8, 13])
def test_scan_equals_loop_equals_direct_product(dtype, T):
    g = torch.Generator().manual_seed(T)
    a, b = torch.rand(3, T, 4, dtype=dtype, generator=g), torch.randn(3, T, 4, dtype=dtype, generator=g)
    h0 = torch.randn(3, 4, dtype=dtype, generator=g)
    # h_t = prod_{s<=t} a_s h0 + sum_{j<=t} prod_{j<s<=t} a_s b_j, written out
    direct = torch.empty_like(b)
    for t in range(T):
        acc = a[:, : t + 1].prod(1) * h0
        for j in range(t + 1):
            acc = acc + a[:, j + 1 : t + 1].prod(1) * b[:, j]
        direct[:, t] = acc
    assert_close(linear_recurrence_loop(a, b, h0), direct)
    assert_close(linear_recurrence_scan(a, b, h0), direct)
    assert_close(linear_recurrence_scan(a, b), linear_recurrence_loop(a, b))


@pytest.mark.parametrize("dtype", DTYPES)
def test_scan_gradients_equal_loop_gradients(dtype):
    g = torch.Generator().manual_seed(3)
    a = torch.rand(2, 11, 3, dtype=dtype, generator=g).requires_grad_()
    b, h0 = leaf(2, 11, 3, dtype=dtype, gen=g), leaf(2, 3, dtype=dtype, gen=g)
    loop, scan = linear_recurrence_loop(a, b, h0), linear_recurrence_scan(a, b, h0)
    grad = torch.randn_like(loop)
    for x, y in zip(torch.autograd.grad(scan, (a, b, h0), grad), torch.autograd.grad(loop, (a, b, h0), grad)):
        assert_close(x, y)


def test_scan_rounds_is_ceil_log2():
    assert [scan_rounds(n) for n in (1, 2, 4, 5, 64, 65)] == [0, 1, 2, 3, 6, 7]
