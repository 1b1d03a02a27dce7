"""qkv.rnn against nn.RNNCell/LSTMCell/GRUCell and two-layer nn.RNN/LSTM/GRU, forwards and gradients."""

import pytest
import torch
from torch import nn

from qkv.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

from .reference import DTYPES, assert_close, leaf


def flat(out):
    """Outputs as one flat list of tensors: (h, c) and (output, (h_n, c_n)) both flatten."""
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for part in out for t in flat(part)]


def compare(ours, ref, inputs):
    """Same outputs; same gradients for the inputs and every parameter (matched by name)."""
    out, ref_out = flat(ours(*inputs)), flat(ref(*inputs))
    for a, b in zip(out, ref_out, strict=True):
        assert_close(a, b)
    grads_out = [torch.randn_like(t) for t in out]
    leaves = [t for t in flat(inputs) if t.requires_grad]
    names = [n for n, _ in ref.named_parameters()]
    assert sorted(n for n, _ in ours.named_parameters()) == sorted(names)
    ours_params = dict(ours.named_parameters())
    ours_grads = torch.autograd.grad(out, leaves + [ours_params[n] for n in names], grads_out)
    ref_grads = torch.autograd.grad(ref_out, leaves + [p for _, p in ref.named_parameters()], grads_out)
    for a, b in zip(ours_grads, ref_grads, strict=True):
        assert_close(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", ["rnn-tanh", "rnn-relu", "lstm", "gru"])
def test_cells_match_torch(dtype, bias, kind):
    torch.manual_seed(0)
    B, I, H = 3, 4, 5
    if kind.startswith("rnn"):
        nonlinearity = kind.split("-")[1]
        ref, ours = nn.RNNCell(I, H, bias, nonlinearity, dtype=dtype), RNNCell(I, H, bias, nonlinearity)
        state = leaf(B, H, dtype=dtype)
    elif kind == "lstm":
        ref, ours = nn.LSTMCell(I, H, bias, dtype=dtype), LSTMCell(I, H, bias)
        state = (leaf(B, H, dtype=dtype), leaf(B, H, dtype=dtype))
    else:
        ref, ours = nn.GRUCell(I, H, bias, dtype=dtype), GRUCell(I, H, bias)
        state = leaf(B, H, dtype=dtype)
    ours.to(dtype).load_state_dict(ref.state_dict())
    compare(ours, ref, (leaf(B, I, dtype=dtype), state))


@pytest.mark.parametrize("cls,ref_cls", [(RNNCell, nn.RNNCell), (LSTMCell, nn.LSTMCell), (GRUCell, nn.GRUCell)])
def test_cells_default_to_a_zero_state(cls, ref_cls):
    torch.manual_seed(1)
    ref, ours = ref_cls(3, 4), cls(3, 4)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3)
    for a, b in zip(flat(ours(x)), flat(ref(x)), strict=True):
        assert_close(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("kind", ["rnn-tanh", "rnn-relu", "lstm", "gru"])
def test_two_layer_sequence_modules_match_torch(dtype, with_state, kind):
    torch.manual_seed(2)
    B, T, I, H, layers = 3, 5, 4, 6, 2
    if kind.startswith("rnn"):
        nonlinearity = kind.split("-")[1]
        ref = nn.RNN(I, H, layers, nonlinearity=nonlinearity, batch_first=True, dtype=dtype)
        ours = RNN(I, H, layers, nonlinearity=nonlinearity)
    elif kind == "lstm":
        ref, ours = nn.LSTM(I, H, layers, batch_first=True, dtype=dtype), LSTM(I, H, layers)
    else:
        ref, ours = nn.GRU(I, H, layers, batch_first=True, dtype=dtype), GRU(I, H, layers)
    ours.to(dtype).load_state_dict(ref.state_dict())
    inputs = [leaf(B, T, I, dtype=dtype)]
    if with_state:
        h0 = leaf(layers, B, H, dtype=dtype)
        inputs.append((h0, leaf(layers, B, H, dtype=dtype)) if kind == "lstm" else h0)
    compare(ours, ref, tuple(inputs))


def test_sequence_module_without_bias_loads_torch_weights():
    torch.manual_seed(3)
    ref, ours = nn.LSTM(3, 4, 2, bias=False, batch_first=True), LSTM(3, 4, 2, bias=False)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 6, 3)
    for a, b in zip(flat(ours(x)), flat(ref(x)), strict=True):
        assert_close(a, b)


def test_sequence_output_is_the_last_layer_state_at_every_step():
    torch.manual_seed(4)
    gru = GRU(3, 4, num_layers=2)
    x = torch.randn(2, 5, 3)
    out, h_n = gru(x)
    _, h_prefix = gru(x[:, :3])
    assert_close(out[:, 2], h_prefix[-1])  # reading 3 steps ends where output step 2 is
    assert torch.equal(out[:, -1], h_n[-1])


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(5)
    rnn = RNN(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(4, 6, 3)
    rnn.eval()
    a, _ = rnn(x)
    b, _ = rnn(x)
    assert torch.equal(a, b)
    rnn.train()
    c, _ = rnn(x)
    assert not torch.allclose(a, c)
