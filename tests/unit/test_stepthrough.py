"""The step-through widget ships exactly qkv's numbers, and its example agrees with the diagrams'."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from booktoc import ROOT
from qkv.widgets import AttentionStepThrough
from qkv.widgets.stepthrough import EXAMPLE, MATRICES, STEPS, attention_steps

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from qkv_diagrams import figures  # noqa: E402


def reference(X, W_Q, W_K, W_V):
    """The same steps written out with PyTorch's own softmax and fused attention, not qkv's."""
    X, W_Q, W_K, W_V = (torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in (X, W_Q, W_K, W_V))
    Q, K, V = X @ W_Q, X @ W_K, X @ W_V
    scores = Q @ K.T
    scaled = scores / np.sqrt(Q.shape[-1])
    weights = torch.softmax(scaled, dim=-1)
    output = torch.nn.functional.scaled_dot_product_attention(Q[None], K[None], V[None])[0]
    names = ["X", "W_Q", "W_K", "W_V", "Q", "K", "V", "scores", "scaled", "weights", "output"]
    return dict(zip(names, [X, W_Q, W_K, W_V, Q, K, V, scores, scaled, weights, output]))


def check_shipped(widget, expected):
    decoded = widget.matrices()
    assert set(decoded) == set(MATRICES)
    for name in MATRICES:
        want = expected[name].numpy()
        got = decoded[name]
        assert got.shape == want.shape, name
        # 16-bit rounding: at most half a step of that matrix's scale
        np.testing.assert_allclose(got, want, rtol=0, atol=0.5 / widget.scales[name] + 1e-12, err_msg=name)


def test_example_ships_qkvs_numbers():
    w = AttentionStepThrough()
    check_shipped(w, reference(EXAMPLE["X"], EXAMPLE["W_Q"], EXAMPLE["W_K"], EXAMPLE["W_V"]))
    assert w.tokens == list(EXAMPLE["tokens"]) and w.step_names == list(STEPS)
    assert (w.n, w.d_model, w.d_k, w.d_v) == (4, 4, 2, 3)


def test_random_inputs_ship_qkvs_numbers():
    g = torch.Generator().manual_seed(0)
    X, W_Q, W_K, W_V = (
        torch.randn(3, 5, generator=g),
        torch.randn(5, 3, generator=g),
        torch.randn(5, 3, generator=g),
        torch.randn(5, 2, generator=g),
    )
    w = AttentionStepThrough(["a", "b", "c"], X, W_Q, W_K, W_V, step=4)
    check_shipped(w, reference(X, W_Q, W_K, W_V))
    assert w.step == 4


def test_weights_rows_sum_to_one_and_output_is_weights_times_v():
    m = attention_steps(torch.tensor(EXAMPLE["X"]), *(torch.tensor(EXAMPLE[k]) for k in ("W_Q", "W_K", "W_V")))
    torch.testing.assert_close(m["weights"].sum(-1), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(m["output"], m["weights"] @ m["V"])


def test_the_diagrams_use_the_same_sentence_and_numbers():
    assert list(figures.EXAMPLE["tokens"]) == list(EXAMPLE["tokens"])
    for k in ("X", "W_Q", "W_K", "W_V"):
        assert figures.EXAMPLE[k] == EXAMPLE[k], k
    drawn = figures.example_numbers()
    m = AttentionStepThrough().matrices()
    for name in ("Q", "K", "V", "scores", "scaled", "weights", "output"):
        np.testing.assert_allclose(np.array(drawn[name]), m[name], atol=1e-3, err_msg=name)


@pytest.mark.parametrize(
    "bad, error",
    [
        (dict(X=[[1.0, 2.0]]), ValueError),  # only some matrices given
        (dict(step=6), ValueError),
        (dict(step=True), TypeError),
        (dict(tokens=["a"]), ValueError),  # 4 rows, 1 token
    ],
)
def test_bad_arguments_are_named(bad, error):
    with pytest.raises(error):
        AttentionStepThrough(**bad)


def test_mismatched_shapes_are_named():
    with pytest.raises(ValueError, match="W_K"):
        AttentionStepThrough(None, torch.ones(3, 4), torch.ones(4, 2), torch.ones(3, 2), torch.ones(4, 2))


def test_step_is_validated():
    w = AttentionStepThrough()
    w.step = 5
    with pytest.raises(Exception, match="step"):
        w.step = 9


def test_front_end_is_a_self_contained_module_after_shared_js():
    import re

    from qkv.widgets._common import HERE, palette_js, shipped

    source = (HERE / "stepthrough.js").read_text(encoding="utf-8")
    assert "export default { render }" in source and not re.search(r"^\s*import\s", source, re.M)
    assert "http://" not in source and "https://" not in source and len(source) < 16_000
    w = AttentionStepThrough()
    assert w._esm == palette_js() + shipped((HERE / "shared.js").read_text(encoding="utf-8") + source)
    assert w._css.startswith(shipped((HERE / "widgets.css").read_text())) and "jupyter-widgets" in w._dom_classes
