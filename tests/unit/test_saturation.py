"""qkv.saturation: the seeded query and keys, and the saturation experiment for one setting."""

from __future__ import annotations

import math

import pytest
import torch

from qkv.saturation import MAX_D_K, MAX_KEYS, QUANTUM, sample_query_keys, saturation


def test_sample_is_seeded_standard_normal_on_the_quantum_grid():
    q, k = sample_query_keys(0)
    q2, k2 = sample_query_keys(0)
    assert q.shape == (MAX_D_K,) and k.shape == (MAX_KEYS, MAX_D_K) and q.dtype == torch.float64
    assert torch.equal(q, q2) and torch.equal(k, k2)
    assert not torch.equal(q, sample_query_keys(1)[0])
    assert torch.equal(k / QUANTUM, (k / QUANTUM).round())  # exact multiples of 2^-10
    assert abs(k.mean().item()) < 0.02 and abs(k.std().item() - 1) < 0.02


@pytest.mark.parametrize("d_k", [1, 3, 64, 1024])
@pytest.mark.parametrize("scaled", [True, False])
def test_saturation_matches_a_direct_computation(d_k, scaled):
    s = saturation(d_k, 20, scaled=scaled, seed=3)
    q, k = sample_query_keys(3)
    logits = (k[:20, :d_k] * q[:d_k]).sum(-1) / (math.sqrt(d_k) if scaled else 1.0)
    p = torch.softmax(logits, -1)
    torch.testing.assert_close(s.logits, logits, rtol=1e-12, atol=1e-12)
    assert s.max_prob == pytest.approx(p.max().item(), rel=1e-12)
    assert s.entropy == pytest.approx(-(p * p.log()).nansum().item(), rel=1e-9, abs=1e-300)
    jac = torch.autograd.functional.jacobian(lambda z: torch.softmax(z, -1), logits)
    assert s.jacobian_max == pytest.approx(jac.abs().max().item(), rel=1e-6, abs=1e-18)
    assert type(s.jacobian_max) is float and type(s.entropy) is float


def test_unscaled_softmax_saturates_and_scaled_does_not():
    unscaled = saturation(1024, 32, scaled=False)
    scaled = saturation(1024, 32, scaled=True)
    assert unscaled.max_prob > 0.999 and unscaled.jacobian_max < 1e-6 and unscaled.entropy < 1e-6
    assert scaled.max_prob < 0.5 and scaled.jacobian_max > 0.1 and scaled.entropy > 1.5
    assert 0.8 < scaled.logits.std().item() < 1.3  # unit spread whatever d_k


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: saturation(0, 4), ValueError, "d_k"),
        (lambda: saturation(MAX_D_K + 1, 4), ValueError, "d_k: expected at most 1024"),
        (lambda: saturation(8, MAX_KEYS + 1), ValueError, "num_keys: expected at most 64"),
        (lambda: saturation(8, 4, scaled="yes"), TypeError, "scaled"),
        (lambda: saturation(8.0, 4), TypeError, "d_k"),
        (lambda: sample_query_keys("0"), TypeError, "seed"),
    ],
)
def test_saturation_module_rejects_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
