"""Recurrent networks written gate by gate: the models attention replaced.

An RNN reads a sequence one step at a time, squeezing everything seen so far into a hidden state
``h``. Three cells, each a function of one time step:

- ``rnn_cell``: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``.
- ``lstm_cell``: a cell state ``c`` updated additively through input, forget and output gates, so
  gradients survive long sequences.
- ``gru_cell``: reset and update gates, no separate cell state.

The weight layout is PyTorch's, so weights copy across with ``load_state_dict``: ``weight_ih``
``[gates * H, input_size]``, ``weight_hh`` ``[gates * H, H]``, ``bias_ih`` and ``bias_hh`` ``[gates * H]``,
the gates stacked in PyTorch's order (LSTM: i, f, g, o; GRU: r, z, n). The multi-layer modules
name them ``weight_ih_l0``, ``weight_hh_l0``, ... like ``nn.RNN``. Everything is batch first.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from qkv import checks


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """One step of an Elman RNN: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Shapes: ``x [B, input_size]``, ``h [B, H]`` -> ``h' [B, H]``. (``F.linear(x, W, b)`` is ``x W^T + b``.)

    >>> rnn_cell(torch.ones(1, 2), torch.zeros(1, 1), torch.ones(1, 2), torch.ones(1, 1))
    tensor([[0.9640]])
    """
    _check_cell("h", x, h, weight_ih, weight_hh, bias_ih, bias_hh, 1)
    checks.check_choice("nonlinearity", nonlinearity, ("tanh", "relu"))
    pre = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of an LSTM (Hochreiter and Schmidhuber 1997, forget gate Gers et al. 2000), gates in order i, f, g, o.

    Shapes: ``x [B, input_size]``, ``state = (h [B, H], c [B, H])`` -> ``(h', c')``.

    >>> h, c = lstm_cell(torch.ones(1, 1), (torch.zeros(1, 1), torch.zeros(1, 1)), torch.ones(4, 1), torch.ones(4, 1))
    >>> c, h                       # c' = sigmoid(1) * tanh(1); h' = sigmoid(1) * tanh(c')
    (tensor([[0.5568]]), tensor([[0.3696]]))
    """
    checks.check_pair("state", state, "(h [B, H], c [B, H])")
    h, c = state
    _check_cell("h", x, h, weight_ih, weight_hh, bias_ih, bias_hh, 4)
    _check_cell("c", x, c, weight_ih, weight_hh, bias_ih, bias_hh, 4)
    gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)  # [B, 4H]
    i, f, g, o = gates.chunk(4, dim=-1)
    i = torch.sigmoid(i)  # input gate: how much of the candidate to write
    f = torch.sigmoid(f)  # forget gate: how much of the old cell state to keep
    g = torch.tanh(g)  # candidate values
    o = torch.sigmoid(o)  # output gate: how much of the cell state to show
    # The cell state is updated by addition, not by a matrix product: the gradient along c passes
    # through only the forget gates, which is how LSTMs remember over long spans.
    c = f * c + i * g
    h = o * torch.tanh(c)
    return h, c


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One step of a GRU (Cho et al. 2014), gates in PyTorch's order r, z, n.

    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``: the reset gate scales the *whole* hidden term,
    bias included, as in PyTorch and cuDNN (the paper puts ``r`` inside, ``W_hn (r * h)``).
    ``h' = (1 - z) * n + z * h``.

    Shapes: ``x [B, input_size]``, ``h [B, H]`` -> ``h' [B, H]``.

    >>> gru_cell(torch.ones(1, 1), torch.zeros(1, 1), torch.ones(3, 1), torch.ones(3, 1))
    tensor([[0.2048]])
    """
    _check_cell("h", x, h, weight_ih, weight_hh, bias_ih, bias_hh, 3)
    x_r, x_z, x_n = F.linear(x, weight_ih, bias_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = F.linear(h, weight_hh, bias_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)  # reset gate: how much of the past feeds the candidate
    z = torch.sigmoid(x_z + h_z)  # update gate: how much of the old state to keep
    n = torch.tanh(x_n + r * h_n)  # candidate state
    return (1 - z) * n + z * h


def _check_cell(state_name, x, h, weight_ih, weight_hh, bias_ih, bias_hh, num_gates):
    """The checks of one step: ``x [B, in]``, a state ``h [B, H]`` and weights of ``num_gates * H`` rows."""
    checks.check_float("weight_hh", weight_hh)
    checks.check_ndim("weight_hh", weight_hh, 2, "[gates * hidden_size, hidden_size]")
    hidden = weight_hh.size(1)
    checks.check_shape("weight_hh", weight_hh, (num_gates * hidden, hidden),
                       f"[{num_gates} * hidden_size, hidden_size]")
    checks.check_float("weight_ih", weight_ih)
    checks.check_ndim("weight_ih", weight_ih, 2, "[gates * hidden_size, input_size]")
    checks.check_size("weight_ih", weight_ih, 0, num_gates * hidden, f"{num_gates} * hidden_size")
    for name, w in (("weight_ih", weight_ih), ("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if w is not None:
            checks.check_float(name, w)
            checks.check_same_dtype(name, w, "weight_hh", weight_hh)
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None:
            checks.check_shape(name, b, (num_gates * hidden,), "[gates * hidden_size]")
    checks.check_float("x", x)
    checks.check_ndim("x", x, 2, "[batch, input_size]")
    checks.check_size("x", x, -1, weight_ih.size(1), "input_size, the columns of weight_ih")
    checks.check_module_dtype("x", x, weight_hh.dtype)
    checks.check_float(state_name, h)
    checks.check_shape(state_name, h, (x.size(0), hidden), "[batch of x, hidden_size]")
    checks.check_module_dtype(state_name, h, weight_hh.dtype)


def _check_sizes(input_size, hidden_size, bias):
    checks.check_positive_int("input_size", input_size)
    checks.check_positive_int("hidden_size", hidden_size)
    checks.check_flag("bias", bias)


def _add_weights(module, suffix, input_size, hidden_size, num_gates, bias):
    """Register ``weight_ih<suffix>``, ``weight_hh<suffix>``, ``bias_ih<suffix>``, ``bias_hh<suffix>``.

    Initialised uniform in [-1/sqrt(H), 1/sqrt(H)], as PyTorch does.
    """
    bound = 1.0 / math.sqrt(hidden_size)

    def uniform(*shape):
        return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))

    module.register_parameter("weight_ih" + suffix, uniform(num_gates * hidden_size, input_size))
    module.register_parameter("weight_hh" + suffix, uniform(num_gates * hidden_size, hidden_size))
    module.register_parameter("bias_ih" + suffix, uniform(num_gates * hidden_size) if bias else None)
    module.register_parameter("bias_hh" + suffix, uniform(num_gates * hidden_size) if bias else None)


def _weights(module, suffix=""):
    return [getattr(module, name + suffix) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def _check_step(module, x, *states):
    """``x [B, input_size]`` and each ``(name, state)`` of ``states`` ``[B, H]`` (None: zeros)."""
    checks.check_float("x", x)
    checks.check_ndim("x", x, 2, "[batch, input_size]")
    checks.check_size("x", x, -1, module.input_size, "input_size")
    checks.check_module_dtype("x", x, module.weight_ih.dtype)
    for name, h in states:
        if h is not None:
            checks.check_float(name, h)
            checks.check_shape(name, h, (x.size(0), module.hidden_size), "[batch of x, hidden_size]")
            checks.check_module_dtype(name, h, module.weight_ih.dtype)


def _check_sequence(module, x, *states):
    """``x [B, T, input_size]`` and each ``(name, state)`` of ``states`` ``[num_layers, B, H]``."""
    checks.check_float("x", x)
    checks.check_ndim("x", x, 3, "[batch, length, input_size]")
    checks.check_size("x", x, -1, module.input_size, "input_size")
    checks.check_nonempty("x", x, 1)
    checks.check_module_dtype("x", x, module.weight_ih_l0.dtype)
    expected = (module.num_layers, x.size(0), module.hidden_size)
    for name, h in states:
        if h is not None:
            checks.check_float(name, h)
            checks.check_shape(name, h, expected, "[num_layers, batch of x, hidden_size]")
            checks.check_module_dtype(name, h, module.weight_ih_l0.dtype)


class RNNCell(nn.Module):
    """An Elman RNN cell (see ``rnn_cell``) holding its weights; same layout as ``nn.RNNCell``.

    Shapes: ``forward(x [B, input_size], h=None [B, H]) -> h' [B, H]`` (``h`` defaults to zeros).

    >>> cell = RNNCell(3, 4)
    >>> cell(torch.randn(2, 3)).shape
    torch.Size([2, 4])
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        super().__init__()
        _check_sizes(input_size, hidden_size, bias)
        checks.check_choice("nonlinearity", nonlinearity, ("tanh", "relu"))
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        _add_weights(self, "", input_size, hidden_size, 1, bias)

    def forward(self, x, h=None):
        _check_step(self, x, ("h", h))
        if h is None:
            h = x.new_zeros(x.size(0), self.hidden_size)
        return rnn_cell(x, h, *_weights(self), nonlinearity=self.nonlinearity)


class LSTMCell(nn.Module):
    """An LSTM cell (see ``lstm_cell``) holding its weights; same layout as ``nn.LSTMCell``.

    Shapes: ``forward(x [B, input_size], state=None) -> (h' [B, H], c' [B, H])``; ``state`` is
    ``(h, c)`` and defaults to zeros.

    >>> h, c = LSTMCell(3, 4)(torch.randn(2, 3))
    >>> h.shape, c.shape
    (torch.Size([2, 4]), torch.Size([2, 4]))
    """

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        _check_sizes(input_size, hidden_size, bias)
        self.input_size, self.hidden_size = input_size, hidden_size
        _add_weights(self, "", input_size, hidden_size, 4, bias)

    def forward(self, x, state=None):
        if state is not None:
            checks.check_pair("state", state, "(h [B, H], c [B, H])")
        _check_step(self, x, *([] if state is None else [("h", state[0]), ("c", state[1])]))
        if state is None:
            zeros = x.new_zeros(x.size(0), self.hidden_size)
            state = (zeros, zeros)
        return lstm_cell(x, state, *_weights(self))


class GRUCell(nn.Module):
    """A GRU cell (see ``gru_cell``) holding its weights; same layout as ``nn.GRUCell``.

    Shapes: ``forward(x [B, input_size], h=None [B, H]) -> h' [B, H]``.

    >>> GRUCell(3, 4)(torch.randn(2, 3)).shape
    torch.Size([2, 4])
    """

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        _check_sizes(input_size, hidden_size, bias)
        self.input_size, self.hidden_size = input_size, hidden_size
        _add_weights(self, "", input_size, hidden_size, 3, bias)

    def forward(self, x, h=None):
        _check_step(self, x, ("h", h))
        if h is None:
            h = x.new_zeros(x.size(0), self.hidden_size)
        return gru_cell(x, h, *_weights(self))


class RNN(nn.Module):
    """A multi-layer Elman RNN over a whole sequence, batch first; loads ``nn.RNN``'s state dict.

    Layer ``l`` reads the outputs of layer ``l - 1`` (dropout between layers in training, as PyTorch).

    Shapes: ``forward(x [B, T, input_size], h0=None [num_layers, B, H])`` returns
    ``(output [B, T, H], h_n [num_layers, B, H])``: the last layer's state at every step, and every
    layer's state at the last step.

    >>> rnn = RNN(3, 4, num_layers=2)
    >>> out, h_n = rnn(torch.randn(2, 5, 3))
    >>> out.shape, h_n.shape, torch.equal(out[:, -1], h_n[-1])
    (torch.Size([2, 5, 4]), torch.Size([2, 2, 4]), True)
    """

    num_gates = 1

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, dropout=0.0, nonlinearity="tanh"):
        super().__init__()
        _check_sizes(input_size, hidden_size, bias)
        checks.check_positive_int("num_layers", num_layers)
        checks.check_probability("dropout", dropout)
        checks.check_choice("nonlinearity", nonlinearity, ("tanh", "relu"))
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.dropout, self.nonlinearity = dropout, nonlinearity
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size
            _add_weights(self, f"_l{layer}", layer_input, hidden_size, self.num_gates, bias)

    def step(self, x, h, layer):
        """One time step of one layer: ``x [B, in]``, ``h [B, H]`` -> ``h' [B, H]``."""
        return rnn_cell(x, h, *_weights(self, f"_l{layer}"), nonlinearity=self.nonlinearity)

    def forward(self, x, h0=None):
        _check_sequence(self, x, ("h0", h0))
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, x.size(0), self.hidden_size)
        h_n = []
        for layer in range(self.num_layers):
            h = h0[layer]
            outputs = []
            for t in range(x.size(1)):
                h = self.step(x[:, t], h, layer)
                outputs.append(h)
            h_n.append(h)
            x = torch.stack(outputs, dim=1)  # [B, T, H]: the input of the next layer
            if layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, self.training)
        return x, torch.stack(h_n)


class GRU(RNN):
    """A multi-layer GRU, batch first; the same loop as ``RNN`` with ``gru_cell`` as the step.

    Loads ``nn.GRU``'s state dict. Shapes as ``RNN``.

    >>> out, h_n = GRU(3, 4, num_layers=2)(torch.randn(2, 5, 3))
    >>> out.shape, h_n.shape
    (torch.Size([2, 5, 4]), torch.Size([2, 2, 4]))
    """

    num_gates = 3

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, dropout=0.0):
        super().__init__(input_size, hidden_size, num_layers, bias, dropout)

    def step(self, x, h, layer):
        return gru_cell(x, h, *_weights(self, f"_l{layer}"))


class LSTM(RNN):
    """A multi-layer LSTM, batch first; loads ``nn.LSTM``'s state dict.

    Shapes: ``forward(x [B, T, input_size], state=None)`` with ``state = (h0, c0)``, each
    ``[num_layers, B, H]`` (zeros by default), returns ``(output [B, T, H], (h_n, c_n))``.

    >>> out, (h_n, c_n) = LSTM(3, 4, num_layers=2)(torch.randn(2, 5, 3))
    >>> out.shape, h_n.shape, c_n.shape
    (torch.Size([2, 5, 4]), torch.Size([2, 2, 4]), torch.Size([2, 2, 4]))
    """

    num_gates = 4

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, dropout=0.0):
        super().__init__(input_size, hidden_size, num_layers, bias, dropout)

    def step(self, x, state, layer):
        """One time step of one layer: ``x [B, in]``, ``state = (h, c)`` -> ``(h', c')``."""
        return lstm_cell(x, state, *_weights(self, f"_l{layer}"))

    def forward(self, x, state=None):
        if state is not None:
            checks.check_pair("state", state, "(h0, c0), each [num_layers, B, H]")
        _check_sequence(self, x, *([] if state is None else [("h0", state[0]), ("c0", state[1])]))
        if state is None:
            zeros = x.new_zeros(self.num_layers, x.size(0), self.hidden_size)
            state = (zeros, zeros)
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            h, c = state[0][layer], state[1][layer]
            outputs = []
            for t in range(x.size(1)):
                h, c = self.step(x[:, t], (h, c), layer)
                outputs.append(h)
            h_n.append(h)
            c_n.append(c)
            x = torch.stack(outputs, dim=1)
            if layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, self.training)
        return x, (torch.stack(h_n), torch.stack(c_n))
