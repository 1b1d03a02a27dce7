"""The small models the chapters train on the tasks of :mod:`qkv.tasks`, in seconds on a laptop CPU.

Each model returns ``(outputs, attention weights)``, so that a chapter can score it with a loss from
:mod:`qkv.train` and also show where it attends. None has a residual connection: whatever a position
knows about the others came through attention.

- :class:`OneLayerAttention`: token and position embeddings, one attention layer (separate ``W_Q``
  and ``W_K``, a shared ``W_Q = W_K``, or additive scoring) and a linear read-out.
- :class:`LookupAttention`: one head that looks a query up among ``(key, value)`` pairs, with queries
  and keys of size ``d_k``, scaled by ``1 / sqrt(d_k)`` or not.
- :class:`MultiHeadReader`: embeddings, one multi-head attention layer and an MLP read-out, for
  tokens or for real numbers.
- :class:`PositionalReader`: token embeddings, one causal multi-head attention layer with a choice of
  positional encoding (none, sinusoidal, learned, relative, RoPE, ALiBi) and a linear read-out.
- :class:`DeepEncoder`: token embeddings and sinusoidal positions, a stack of Transformer encoder
  layers (post-norm or pre-norm, LayerNorm or RMSNorm, with residual connections) and a linear
  read-out: the deep model of chapter 6.
- :class:`RecurrentReader`: token embeddings, one recurrent layer (RNN, LSTM or GRU, ``qkv``'s or
  PyTorch's fused one) and a linear read-out: the recurrent baseline of chapter 8.
"""

from __future__ import annotations

import torch
from torch import nn

from qkv import checks
from qkv.attention import AdditiveAttention, MultiHeadAttention, scaled_dot_product_attention
from qkv.masks import causal_mask
from qkv.positional import (
    LearnedPositionalEmbedding,
    RelativePositionEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    alibi_bias,
)
from qkv.rnn import GRU, LSTM, RNN
from qkv.transformer import NORMS, Encoder


class OneLayerAttention(nn.Module):
    """Token and position embeddings, one attention head, and a linear read-out to the vocabulary.

    There is deliberately no residual connection and no feed-forward layer: each position's output is
    only the attention-weighted mix of the values, so the model can copy a token only by attending to
    it.

    Args:
        vocab_size, seq_len: sizes of the token and (learned) position embeddings.
        d_model: embedding size. d_k: size of the queries and keys (default ``d_model``).
        score: how a query is compared with a key:
            ``"dot"``: scaled dot product with separate ``W_Q`` and ``W_K``;
            ``"shared"``: scaled dot product with ``W_K = W_Q`` (one matrix), so scores are symmetric;
            ``"additive"``: ``v^T tanh(W_q x_i + W_k x_j)`` (:class:`qkv.attention.AdditiveAttention`,
            with ``d_k`` hidden units).

    Shapes: ``forward(tokens [B, T])`` returns ``(logits [B, T, vocab_size], weights [B, T, T])``
    with ``T <= seq_len``.

    >>> import torch
    >>> model = OneLayerAttention(vocab_size=10, seq_len=6, d_model=8, score="shared")
    >>> logits, weights = model(torch.randint(10, (3, 6)))
    >>> logits.shape, weights.shape
    (torch.Size([3, 6, 10]), torch.Size([3, 6, 6]))
    >>> model.w_k is model.w_q                       # one matrix for queries and keys
    True
    """

    SCORES = ("dot", "shared", "additive")

    def __init__(self, vocab_size, seq_len, d_model=16, d_k=None, score="dot"):
        super().__init__()
        d_k = d_model if d_k is None else d_k
        for name, size in (("vocab_size", vocab_size), ("seq_len", seq_len), ("d_model", d_model), ("d_k", d_k)):
            checks.check_positive_int(name, size)
        checks.check_choice("score", score, self.SCORES)
        self.score = score
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(seq_len, d_model)
        if score == "additive":
            self.additive = AdditiveAttention(d_model, d_model, d_hidden=d_k)
        else:
            self.w_q = nn.Linear(d_model, d_k, bias=False)
            self.w_k = self.w_q if score == "shared" else nn.Linear(d_model, d_k, bias=False)
        self.w_v = nn.Linear(d_model, d_model, bias=False)
        self.readout = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        checks.check_integer("tokens", tokens)
        checks.check_ndim("tokens", tokens, 2, "[batch, length]")
        length = tokens.size(1)
        if not 1 <= length <= self.position_embedding.num_embeddings:
            raise ValueError(
                f"tokens: expected a length from 1 to {self.position_embedding.num_embeddings} (seq_len), "
                f"got shape {tuple(tokens.shape)}"
            )
        positions = torch.arange(length, device=tokens.device)
        x = self.token_embedding(tokens) + self.position_embedding(positions)  # [B, T, d_model]
        v = self.w_v(x)  # [B, T, d_model]
        if self.score == "additive":
            out, weights = self.additive(x, x, v)
        else:
            out, weights = scaled_dot_product_attention(self.w_q(x), self.w_k(x), v)
        return self.readout(out), weights  # [B, T, vocab], [B, T, T]


class LookupAttention(nn.Module):
    """One attention head that looks a query up among ``(key, value)`` pairs, scaled by 1/sqrt(d_k) or not.

    Each pair is embedded as ``x_j = E_key[key_j] + E_value[value_j]`` and the query as
    ``E_key[query]``, all of size ``d_model``. The query and the keys are projected to ``d_k``
    dimensions, which may be much larger than ``d_model``; the attention weights mix the values
    ``W_V x_j``, and a linear layer reads the value class off the mix.

    Args:
        num_symbols, num_values: vocabulary sizes of the keys and of the values.
        d_model: embedding size. d_k: size of queries and keys.
        scaled: divide the scores by ``sqrt(d_k)`` (True) or use the raw dot products (False).

    Shapes: ``forward((keys [B, P], values [B, P], query [B, 1]))`` returns
    ``(logits [B, 1, num_values], weights [B, 1, P])``.

    >>> import torch
    >>> from qkv.tasks import key_value_lookup_batch
    >>> model = LookupAttention(num_symbols=16, num_values=8, d_model=8, d_k=64, scaled=False)
    >>> inputs, targets = key_value_lookup_batch(torch.Generator().manual_seed(0), 3)
    >>> logits, weights = model(inputs)
    >>> logits.shape, weights.shape
    (torch.Size([3, 1, 8]), torch.Size([3, 1, 8]))
    """

    def __init__(self, num_symbols, num_values, d_model=32, d_k=1024, scaled=True):
        super().__init__()
        for name, size in (("num_symbols", num_symbols), ("num_values", num_values), ("d_model", d_model),
                           ("d_k", d_k)):
            checks.check_positive_int(name, size)
        self.scaled = checks.check_flag("scaled", scaled)
        self.key_embedding = nn.Embedding(num_symbols, d_model)
        self.value_embedding = nn.Embedding(num_values, d_model)
        self.w_q = nn.Linear(d_model, d_k, bias=False)
        self.w_k = nn.Linear(d_model, d_k, bias=False)
        self.w_v = nn.Linear(d_model, d_model, bias=False)
        self.readout = nn.Linear(d_model, num_values)

    def forward(self, inputs):
        keys, values, query = self._check_inputs(inputs)
        x = self.key_embedding(keys) + self.value_embedding(values)  # [B, P, d_model]
        q = self.w_q(self.key_embedding(query))  # [B, 1, d_k]
        scale = None if self.scaled else 1.0  # None: the default 1 / sqrt(d_k)
        out, weights = scaled_dot_product_attention(q, self.w_k(x), self.w_v(x), scale=scale)
        return self.readout(out), weights  # [B, 1, num_values], [B, 1, P]

    def _check_inputs(self, inputs):
        if not isinstance(inputs, (tuple, list)) or len(inputs) != 3:
            raise TypeError("inputs: expected a tuple (keys [B, P], values [B, P], query [B, 1]), "
                            f"got {type(inputs).__name__}")
        keys, values, query = inputs
        checks.check_token_ids("keys", keys, self.key_embedding.num_embeddings)
        checks.check_token_ids("values", values, self.value_embedding.num_embeddings)
        checks.check_token_ids("query", query, self.key_embedding.num_embeddings)
        checks.check_ndim("keys", keys, 2, "[batch, pairs]")
        if values.shape != keys.shape:
            raise ValueError(f"values: expected the shape of keys {tuple(keys.shape)}, got {tuple(values.shape)}")
        if query.shape != (keys.size(0), 1):
            raise ValueError(f"query: expected shape {(keys.size(0), 1)} [batch, 1], got {tuple(query.shape)}")
        return keys, values, query


class MultiHeadReader(nn.Module):
    """Embeddings, one multi-head attention layer, and a small MLP read-out at every position.

    As in :class:`OneLayerAttention` there is no residual connection: whatever the read-out knows
    about other positions came through attention. ``num_heads`` changes how ``d_model`` is split, not
    the number of parameters: one head of size ``d_model`` and ``h`` heads of ``d_model / h`` have the
    same projections (:class:`qkv.attention.MultiHeadAttention`).

    The inputs are either tokens (``vocab_size`` an int: an embedding table, and logits over the
    vocabulary out) or real numbers (``vocab_size=None``: each number ``x`` is embedded as
    ``x * w + b`` with a learned ``w`` and ``b``, and one number comes out).

    Args:
        vocab_size: number of tokens, or None for real-valued inputs.
        seq_len: size of the learned position embedding.
        d_model: model size, divisible by ``num_heads``. num_heads: number of heads.
        d_hidden: hidden size of the read-out MLP (default ``4 * d_model``).

    Shapes: ``forward(inputs [B, T])`` returns ``(outputs, weights [B, heads, T, T])``, with outputs
    ``[B, T, vocab_size]`` (logits) for tokens and ``[B, T]`` for real numbers.

    >>> import torch
    >>> model = MultiHeadReader(vocab_size=10, seq_len=8, d_model=16, num_heads=2)
    >>> logits, weights = model(torch.randint(10, (3, 8)))
    >>> logits.shape, weights.shape
    (torch.Size([3, 8, 10]), torch.Size([3, 2, 8, 8]))
    >>> MultiHeadReader(vocab_size=None, seq_len=8, d_model=16, num_heads=4)(torch.randn(3, 8))[0].shape
    torch.Size([3, 8])
    """

    def __init__(self, vocab_size, seq_len, d_model=32, num_heads=1, d_hidden=None):
        super().__init__()
        d_hidden = 4 * d_model if d_hidden is None else d_hidden
        if vocab_size is not None:
            checks.check_positive_int("vocab_size", vocab_size)
        for name, size in (("seq_len", seq_len), ("d_model", d_model), ("num_heads", num_heads),
                           ("d_hidden", d_hidden)):
            checks.check_positive_int(name, size)
        self.vocab_size = vocab_size
        if vocab_size is None:
            self.input_embedding = nn.Linear(1, d_model)  # a number x becomes x * w + b
        else:
            self.input_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(seq_len, d_model)
        self.attention = MultiHeadAttention(d_model, num_heads)
        self.readout = nn.Sequential(nn.Linear(d_model, d_hidden), nn.ReLU(),
                                     nn.Linear(d_hidden, 1 if vocab_size is None else vocab_size))

    def forward(self, inputs):
        x = self.embed(inputs)  # [B, T, d_model]
        mixed, weights = self.attention(x, x, x)  # [B, T, d_model], [B, heads, T, T]
        out = self.readout(mixed)  # [B, T, vocab_size] or [B, T, 1]
        return (out if self.vocab_size is not None else out.squeeze(-1)), weights

    def embed(self, inputs):
        """Input plus position embeddings: ``[B, T]`` -> ``[B, T, d_model]``."""
        if self.vocab_size is None:
            checks.check_float("inputs", inputs)
        else:
            checks.check_token_ids("inputs", inputs, self.vocab_size)
        checks.check_ndim("inputs", inputs, 2, "[batch, length]")
        checks.check_nonempty("inputs", inputs, 1)
        checks.check_max_length("inputs", inputs, self.position_embedding.num_embeddings)
        positions = torch.arange(inputs.size(1), device=inputs.device)
        if self.vocab_size is None:
            x = self.input_embedding(inputs.unsqueeze(-1))
        else:
            x = self.input_embedding(inputs)
        return x + self.position_embedding(positions)


class PositionalReader(nn.Module):
    """Token embeddings, one causal multi-head attention layer with a choice of positions, a linear read-out.

    The same model for every way of giving attention the order of the tokens; only ``positional``
    changes where position enters:

    - ``"none"``: nowhere (the causal mask is the only hint of order);
    - ``"sinusoidal"`` / ``"learned"``: a vector added to each token embedding, before the projections
      (:class:`qkv.positional.SinusoidalPositionalEncoding`, :class:`qkv.positional.LearnedPositionalEmbedding`);
    - ``"relative"``: Shaw et al.'s learned vector per clipped offset, added to the keys inside the
      score (:class:`qkv.positional.RelativePositionEmbedding`, clipped at ``max_distance``);
    - ``"rope"``: queries and keys rotated by their position (:class:`qkv.positional.RotaryEmbedding`);
    - ``"alibi"``: ``-slope_h * (i - j)`` added to the scores, a fixed slope per head
      (:func:`qkv.positional.alibi_bias`).

    As in the other toy models there is no residual connection: each position's output is only what
    attention brought it, so the model can copy a token only by attending to it.

    Args:
        vocab_size: number of tokens. positional: one of ``POSITIONAL``.
        d_model: model size, divisible by ``num_heads``. num_heads: number of heads.
        max_len: rows of the sinusoidal and learned tables (the longest sequence they accept).
        max_distance: the clipping distance of ``"relative"``.

    Shapes: ``forward(tokens [B, T])`` returns ``(logits [B, T, vocab_size], weights [B, heads, T, T])``.

    >>> import torch
    >>> model = PositionalReader(vocab_size=10, positional="rope", d_model=16, num_heads=2)
    >>> logits, weights = model(torch.randint(10, (3, 7)))
    >>> logits.shape, weights.shape, bool(weights[0, 0].triu(1).eq(0).all())   # causal: no future keys
    (torch.Size([3, 7, 10]), torch.Size([3, 2, 7, 7]), True)
    """

    POSITIONAL = ("none", "sinusoidal", "learned", "relative", "rope", "alibi")

    def __init__(self, vocab_size, positional, d_model=32, num_heads=4, max_len=256, max_distance=8):
        super().__init__()
        for name, size in (("vocab_size", vocab_size), ("d_model", d_model), ("num_heads", num_heads),
                           ("max_len", max_len), ("max_distance", max_distance)):
            checks.check_positive_int(name, size)
        checks.check_choice("positional", positional, self.POSITIONAL)
        checks.check_divisible("d_model", d_model, "num_heads", num_heads)
        self.positional, self.num_heads, self.head_dim = positional, num_heads, d_model // num_heads
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position = {
            "sinusoidal": lambda: SinusoidalPositionalEncoding(d_model, max_len),
            "learned": lambda: LearnedPositionalEmbedding(d_model, max_len),
            "relative": lambda: RelativePositionEmbedding(self.head_dim, max_distance),
            "rope": lambda: RotaryEmbedding(self.head_dim),
        }.get(positional, lambda: None)()
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(d_model, d_model) for _ in range(3))
        self.readout = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        checks.check_token_ids("tokens", tokens, self.token_embedding.num_embeddings)
        checks.check_ndim("tokens", tokens, 2, "[batch, length]")
        checks.check_nonempty("tokens", tokens, 1)
        B, T = tokens.shape
        x = self.token_embedding(tokens)  # [B, T, d_model]
        if self.positional in ("sinusoidal", "learned"):
            x = self.position(x)  # x + PE[:T]: position enters before the projections
        split = lambda t: t.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)  # [B, heads, T, head_dim]
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        bias = None
        if self.positional == "rope":
            q, k = self.position(q, k)  # rotated by their positions: scores depend on the offset only
        elif self.positional == "relative":
            bias = self.position.score_bias(q, T)  # q_i . a_clip(j - i) / sqrt(head_dim)
        elif self.positional == "alibi":
            bias = alibi_bias(self.num_heads, T, T, device=tokens.device)  # -slope_h * (i - j)
        out, weights = scaled_dot_product_attention(q, k, v, causal_mask(T, device=tokens.device), bias=bias)
        return self.readout(out.transpose(1, 2).reshape(B, T, -1)), weights


class DeepEncoder(nn.Module):
    """Token embeddings plus sinusoidal positions, ``num_layers`` encoder layers, a linear read-out.

    Unlike the one-layer models above, this one has the Transformer's residual connections and
    norms (:class:`qkv.transformer.Encoder`), so it can be made deep; ``norm_first`` and ``norm``
    choose where the norm sits and which one it is, the two questions of chapter 6. The attention is
    bidirectional (an encoder: no mask).

    Args:
        vocab_size: number of tokens. d_model, num_heads, d_ff, num_layers: sizes of the stack.
        norm_first: pre-norm (True) or post-norm (False, the paper). norm: ``"layer"`` or ``"rms"``.
        dropout: dropout in the encoder layers. max_len: the longest sequence the positions cover.

    Shapes: ``forward(tokens [B, T])`` returns ``(logits [B, T, vocab_size], weights)``, ``weights`` a
    list of one ``[B, heads, T, T]`` tensor per layer.

    >>> import torch
    >>> model = DeepEncoder(vocab_size=10, d_model=16, num_heads=2, d_ff=32, num_layers=3, norm="rms")
    >>> logits, weights = model(torch.randint(10, (4, 7)))
    >>> logits.shape, len(weights), weights[0].shape
    (torch.Size([4, 7, 10]), 3, torch.Size([4, 2, 7, 7]))
    """

    def __init__(self, vocab_size, d_model=32, num_heads=4, d_ff=64, num_layers=6, norm_first=False,
                 norm="layer", dropout=0.0, max_len=256):
        super().__init__()
        for name, size in (("vocab_size", vocab_size), ("d_model", d_model), ("num_heads", num_heads),
                           ("d_ff", d_ff), ("num_layers", num_layers), ("max_len", max_len)):
            checks.check_positive_int(name, size)
        checks.check_divisible("d_model", d_model, "num_heads", num_heads)
        checks.check_flag("norm_first", norm_first)
        checks.check_choice("norm", norm, NORMS)
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position = SinusoidalPositionalEncoding(d_model, max_len)
        self.encoder = Encoder(d_model, num_heads, d_ff, num_layers, dropout=dropout, norm_first=norm_first,
                               norm=norm)
        self.readout = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        checks.check_token_ids("tokens", tokens, self.token_embedding.num_embeddings)
        checks.check_ndim("tokens", tokens, 2, "[batch, length]")
        checks.check_nonempty("tokens", tokens, 1)
        checks.check_max_length("tokens", tokens, self.position.max_len)
        x = self.position(self.token_embedding(tokens))  # [B, T, d_model]
        h, weights = self.encoder(x)
        return self.readout(h), weights


class RecurrentReader(nn.Module):
    """Token embeddings, one recurrent layer, and a linear read-out at every position.

    The recurrent counterpart of :class:`PositionalReader`: whatever a position knows about earlier
    tokens came through the hidden state, step by step. ``fused=False`` runs ``qkv.rnn``'s cell-by-cell
    loop; ``fused=True`` runs PyTorch's ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (one fused kernel, much
    faster on a CPU). Both have the same parameters under the same names (``recurrent.weight_ih_l0``,
    ...), so a state dict moves between them and they compute the same function.

    Args:
        vocab_size: number of tokens. cell: one of ``CELLS``. hidden_size: size of the hidden state.
        d_embed: size of the token embeddings. fused: PyTorch's module instead of ``qkv``'s.

    Shapes: ``forward(tokens [B, T])`` returns ``(logits [B, T, vocab_size], None)`` (no attention
    weights, but the same pair as the other toy models, so :mod:`qkv.train`'s losses apply).

    >>> import torch
    >>> model = RecurrentReader(vocab_size=10, cell="gru", hidden_size=8, d_embed=4)
    >>> logits, _ = model(torch.randint(10, (3, 7)))
    >>> logits.shape, sum(p.numel() for p in model.parameters())   # 40 + 3 * (8 * 12 + 16) + 90
    (torch.Size([3, 7, 10]), 466)
    """

    CELLS = ("rnn", "lstm", "gru")

    def __init__(self, vocab_size, cell="lstm", hidden_size=32, d_embed=16, fused=False):
        super().__init__()
        for name, size in (("vocab_size", vocab_size), ("hidden_size", hidden_size), ("d_embed", d_embed)):
            checks.check_positive_int(name, size)
        checks.check_choice("cell", cell, self.CELLS)
        self.fused = checks.check_flag("fused", fused)
        self.cell = cell
        self.token_embedding = nn.Embedding(vocab_size, d_embed)
        if fused:
            module = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
            self.recurrent = module(d_embed, hidden_size, batch_first=True)
        else:
            self.recurrent = {"rnn": RNN, "lstm": LSTM, "gru": GRU}[cell](d_embed, hidden_size)
        self.readout = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens):
        checks.check_token_ids("tokens", tokens, self.token_embedding.num_embeddings)
        checks.check_ndim("tokens", tokens, 2, "[batch, length]")
        checks.check_nonempty("tokens", tokens, 1)
        states, _ = self.recurrent(self.token_embedding(tokens))  # [B, T, hidden_size]
        return self.readout(states), None
