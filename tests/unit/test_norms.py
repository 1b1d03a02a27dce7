"""qkv.norms against nn.LayerNorm, nn.BatchNorm1d and nn.RMSNorm, forwards and gradients."""

import pytest
import torch
from torch import nn

from qkv.norms import BatchNorm1d, LayerNorm, RMSNorm

from .reference import DTYPES, assert_close


def randomise(module):
    """Random affine parameters: the defaults (ones and zeros) would hide a mix-up of weight and bias."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    return module


def compare(ours, ref, x, dtype):
    """Same output, and the same gradients for the input and every parameter, for one random x."""
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, ref_out = ours(x1), ref(x2)
    assert_close(out, ref_out)
    g = torch.randn_like(out)
    ours_grads = torch.autograd.grad(out, [x1, *ours.parameters()], g)
    ref_grads = torch.autograd.grad(ref_out, [x2, *ref.parameters()], g)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    for a, b in zip(ours_grads, ref_grads):
        assert_close(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [8, (3, 8)])
def test_layer_norm_matches_torch(dtype, shape):
    torch.manual_seed(0)
    ref = randomise(nn.LayerNorm(shape, dtype=dtype))
    ours = LayerNorm(shape).to(dtype)
    ours.load_state_dict(ref.state_dict())
    compare(ours, ref, torch.randn(2, 5, 3, 8, dtype=dtype) * 3 + 1, dtype)


def test_layer_norm_without_bias_and_with_bert_eps():
    torch.manual_seed(1)
    ref = randomise(nn.LayerNorm(6, eps=1e-12, bias=False, dtype=torch.float64))
    ours = LayerNorm(6, eps=1e-12, bias=False).double()
    assert ours.bias is None
    ours.load_state_dict(ref.state_dict())
    compare(ours, ref, torch.randn(4, 6, dtype=torch.float64), torch.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 4), (6, 4, 5)])
def test_batch_norm_training_matches_torch_including_running_statistics(dtype, shape):
    torch.manual_seed(2)
    ref = randomise(nn.BatchNorm1d(4, momentum=0.3, dtype=dtype))
    ours = BatchNorm1d(4, momentum=0.3).to(dtype)
    ours.load_state_dict(ref.state_dict())
    for _ in range(4):  # several steps, so the running statistics are a real moving average
        compare(ours, ref, torch.randn(*shape, dtype=dtype) * 2 + 3, dtype)
    assert_close(ours.running_mean, ref.running_mean)
    assert_close(ours.running_var, ref.running_var)
    assert ours.num_batches_tracked.item() == ref.num_batches_tracked.item() == 4


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_eval_uses_running_statistics_like_torch(dtype):
    torch.manual_seed(3)
    ref = randomise(nn.BatchNorm1d(3, dtype=dtype))
    ours = BatchNorm1d(3).to(dtype)
    ours.load_state_dict(ref.state_dict())
    for _ in range(3):
        x = torch.randn(5, 3, 7, dtype=dtype) + 2
        ours(x), ref(x)
    ours.eval(), ref.eval()
    compare(ours, ref, torch.randn(2, 3, 7, dtype=dtype), dtype)
    # In evaluation, a sample's output does not depend on the rest of its batch.
    x = torch.randn(4, 3, dtype=dtype)
    assert_close(ours(x)[:1], ours(x[:1]))
    assert ours.num_batches_tracked.item() == 3


def test_batch_norm_running_variance_is_unbiased():
    bn = BatchNorm1d(1, momentum=1.0)  # momentum 1: the running values are the last batch's
    x = torch.tensor([[1.0], [2.0], [6.0]])
    bn(x)
    assert_close(bn.running_mean, torch.tensor([3.0]))
    assert_close(bn.running_var, torch.tensor([7.0]))  # sum of squares 14 / (n - 1 = 2), not / 3


def test_batch_norm_cumulative_average_when_momentum_is_none():
    torch.manual_seed(4)
    ref, ours = nn.BatchNorm1d(2, momentum=None), BatchNorm1d(2, momentum=None)
    for _ in range(3):
        x = torch.randn(8, 2) * 3
        ours(x), ref(x)
    assert_close(ours.running_mean, ref.running_mean)
    assert_close(ours.running_var, ref.running_var)


def test_batch_norm_state_dict_round_trips_to_torch():
    ours = BatchNorm1d(3)
    ours(torch.randn(4, 3))
    ref = nn.BatchNorm1d(3)
    ref.load_state_dict(ours.state_dict())
    assert set(ref.state_dict()) == set(ours.state_dict())
    assert torch.equal(ref.running_mean, ours.running_mean)


def test_batch_norm_needs_more_than_one_value_per_channel_in_training():
    with pytest.raises(ValueError, match=r"x: expected more than 1 value per channel in training, got shape \(1, 3\)"):
        BatchNorm1d(3)(torch.randn(1, 3))
    BatchNorm1d(3).eval()(torch.randn(1, 3))  # fine in evaluation


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [None, 1e-6])
@pytest.mark.parametrize("shape", [8, (2, 8)])
def test_rms_norm_matches_torch(dtype, eps, shape):
    torch.manual_seed(5)
    ref = randomise(nn.RMSNorm(shape, eps=eps, dtype=dtype))
    ours = RMSNorm(shape, eps=eps).to(dtype)
    ours.load_state_dict(ref.state_dict())
    compare(ours, ref, torch.randn(3, 4, 2, 8, dtype=dtype) * 2, dtype)
