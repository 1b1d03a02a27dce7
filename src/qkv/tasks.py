"""Toy tasks for the chapters, and the tiny models trained on them.

Each task draws random token sequences from a seeded ``torch.Generator``, so a chapter that trains on
it prints the same numbers on every build. The models are small enough to train on a laptop CPU in a
second or two with :func:`qkv.train.fit`.

Chapter 2 (self-attention):

- :func:`previous_token_batch`: every position must copy the token to its left.
- :class:`OneLayerAttention`: embeddings, one attention layer (separate ``W_Q`` and ``W_K``, a shared
  ``W_Q = W_K``, or additive scoring) and a linear read-out.
- :func:`token_cross_entropy`, :func:`token_accuracy`: loss and accuracy over the positions that
  have a target.

Chapter 3 (why divide by sqrt(d_k)):

- :func:`key_value_lookup_batch`: find the value of the key that matches a query.
- :class:`LookupAttention`: one head with queries and keys of size ``d_k``, scaled or not.

Chapter 4 (multi-head attention):

- :func:`first_and_previous_batch`, :func:`first_minus_previous_batch`: each answer combines the
  first token (or number) and the previous one.
- :class:`MultiHeadReader`: embeddings, one multi-head attention layer and an MLP read-out.
- :func:`masked_mse`, :func:`within_tolerance`: loss and accuracy for real-valued targets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qkv import checks
from qkv.attention import AdditiveAttention, MultiHeadAttention, scaled_dot_product_attention

IGNORE_INDEX = -100  # a target that the loss and the accuracy skip (PyTorch's cross-entropy default)


# ---------------------------------------------------------------------------------------------------
# Chapter 2: attend to the previous token


def previous_token_batch(generator, batch_size=64, seq_len=8, vocab_size=10, ring=True):
    """Random token sequences; the target at each position is the token to its left.

    With ``ring=True`` the sequence is a ring: position 0's left neighbour is the last position, so
    every position has a target (the targets are the tokens rolled one step to the right). With
    ``ring=False`` position 0 has no left neighbour and its target is ``IGNORE_INDEX``.

    Args:
        generator: a ``torch.Generator`` (``qkv.train.fit`` passes a seeded one).
        batch_size, seq_len, vocab_size: positive ints; ``seq_len >= 2``.
        ring: whether position 0 copies the last token.

    Returns:
        ``(tokens [batch_size, seq_len], targets [batch_size, seq_len])``, both int64.

    >>> import torch
    >>> tokens, targets = previous_token_batch(torch.Generator().manual_seed(0), 2, 5, 10)
    >>> tokens.shape, bool((targets[:, 1:] == tokens[:, :-1]).all()), bool((targets[:, 0] == tokens[:, -1]).all())
    (torch.Size([2, 5]), True, True)
    >>> previous_token_batch(torch.Generator(), 1, 3, ring=False)[1][0, 0].item()
    -100
    """
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len), ("vocab_size", vocab_size)):
        checks.check_positive_int(name, value)
    if seq_len < 2:
        raise ValueError(f"seq_len: expected at least 2 positions (one needs a left neighbour), got {seq_len}")
    tokens = torch.randint(vocab_size, (batch_size, seq_len), generator=generator)
    targets = tokens.roll(1, dims=1)  # targets[:, i] = tokens[:, i - 1]; position 0 gets the last token
    if not ring:
        targets[:, 0] = IGNORE_INDEX
    return tokens, targets


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


def token_cross_entropy(model, tokens, targets):
    """Mean cross-entropy of ``model(tokens)`` over the positions whose target is not ``IGNORE_INDEX``.

    The signature ``(model, inputs, targets)`` is the ``loss_fn`` of :func:`qkv.train.fit`.

    >>> import math, torch
    >>> model = OneLayerAttention(vocab_size=10, seq_len=6)
    >>> tokens, targets = previous_token_batch(torch.Generator().manual_seed(0), 4, 6, ring=False)
    >>> loss = token_cross_entropy(model, tokens, targets)  # over the 4 x 5 positions with a target
    >>> loss.shape, loss.requires_grad                       # a scalar to call .backward() on
    (torch.Size([]), True)
    >>> uniform = lambda tokens: (torch.zeros(*tokens.shape, 10), None)  # logits [B, T, 10], all equal
    >>> math.isclose(token_cross_entropy(uniform, tokens, targets).item(), math.log(10), rel_tol=1e-6)
    True
    """
    logits, _ = model(tokens)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)


@torch.no_grad()
def token_accuracy(model, tokens, targets):
    """Fraction of positions (skipping ``IGNORE_INDEX`` targets) where the most likely token is the target.

    >>> import torch
    >>> model = OneLayerAttention(vocab_size=10, seq_len=6)
    >>> tokens, targets = previous_token_batch(torch.Generator().manual_seed(0), 4, 6)
    >>> 0.0 <= token_accuracy(model, tokens, targets) <= 1.0
    True
    """
    logits, _ = model(tokens)
    keep = targets != IGNORE_INDEX
    return (logits.argmax(dim=-1)[keep] == targets[keep]).float().mean().item()


# ---------------------------------------------------------------------------------------------------
# Chapter 3: look a key up in a dictionary, with queries and keys of a large size d_k


def key_value_lookup_batch(generator, batch_size=32, num_pairs=8, num_symbols=16, num_values=8):
    """A small dictionary of ``(key, value)`` pairs and a query; the target is the query's value.

    The ``num_pairs`` keys of a dictionary are distinct symbols from ``[0, num_symbols)``; each has a
    value from ``[0, num_values)``, drawn independently. The query is one of the keys, so the answer
    is found by attending to the pair whose key matches the query and reading its value.

    Args:
        generator: a ``torch.Generator``.
        batch_size, num_pairs, num_symbols, num_values: positive ints, ``num_pairs <= num_symbols``.

    Returns:
        ``((keys [B, num_pairs], values [B, num_pairs], query [B, 1]), targets [B, 1])``, all int64.
        The targets have one position, like the query, so :func:`token_cross_entropy` and
        :func:`token_accuracy` apply to :class:`LookupAttention`.

    >>> import torch
    >>> (keys, values, query), target = key_value_lookup_batch(torch.Generator().manual_seed(0), 4)
    >>> keys.shape, values.shape, query.shape, target.shape
    (torch.Size([4, 8]), torch.Size([4, 8]), torch.Size([4, 1]), torch.Size([4, 1]))
    >>> hit = keys == query                            # exactly one key matches the query
    >>> bool((hit.sum(1) == 1).all()), bool((values[hit] == target[:, 0]).all())
    (True, True)
    """
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    for name, value in (("batch_size", batch_size), ("num_pairs", num_pairs), ("num_symbols", num_symbols),
                        ("num_values", num_values)):
        checks.check_positive_int(name, value)
    if num_pairs > num_symbols:
        raise ValueError(f"num_pairs: expected at most num_symbols = {num_symbols} (keys are distinct), got {num_pairs}")
    # a random permutation of the symbols per row; its first num_pairs entries are distinct keys
    keys = torch.rand(batch_size, num_symbols, generator=generator).argsort(dim=1)[:, :num_pairs]
    values = torch.randint(num_values, (batch_size, num_pairs), generator=generator)
    pick = torch.randint(num_pairs, (batch_size, 1), generator=generator)  # which pair is asked for
    return (keys, values, keys.gather(1, pick)), values.gather(1, pick)


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
    >>> model = LookupAttention(num_symbols=16, num_values=8, d_model=8, d_k=64, scaled=False)
    >>> inputs, targets = key_value_lookup_batch(torch.Generator().manual_seed(0), 3)
    >>> logits, weights = model(inputs)
    >>> logits.shape, weights.shape
    (torch.Size([3, 1, 8]), torch.Size([3, 1, 8]))
    """

    def __init__(self, num_symbols, num_values, d_model=32, d_k=1024, scaled=True):
        super().__init__()
        for name, size in (("num_symbols", num_symbols), ("num_values", num_values), ("d_model", d_model), ("d_k", d_k)):
            checks.check_positive_int(name, size)
        if not isinstance(scaled, bool):
            raise TypeError(f"scaled: expected a bool, got {type(scaled).__name__} {scaled!r}")
        self.scaled = scaled
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


# ---------------------------------------------------------------------------------------------------
# Chapter 4: a task that needs two relations at once, for one head or several


def first_and_previous_batch(generator, batch_size=64, seq_len=8, vocab_size=10):
    """Random tokens; the target at position ``i >= 2`` is ``(token[0] - token[i - 1]) mod vocab_size``.

    Every answer needs two tokens at once: the first token of the sequence and the token just
    before the current position. The difference is not symmetric, so it also matters which of the
    two is which. Positions 0 and 1 (where ``i - 1`` is the first token itself) get ``IGNORE_INDEX``.

    Returns:
        ``(tokens [batch_size, seq_len], targets [batch_size, seq_len])``, int64.

    >>> import torch
    >>> tokens, targets = first_and_previous_batch(torch.Generator().manual_seed(0), 2, 5, 10)
    >>> bool((targets[:, 2:] == (tokens[:, :1] - tokens[:, 1:-1]) % 10).all()), targets[0, :2].tolist()
    (True, [-100, -100])
    """
    _check_sequence_task(generator, batch_size, seq_len)
    checks.check_positive_int("vocab_size", vocab_size)
    tokens = torch.randint(vocab_size, (batch_size, seq_len), generator=generator)
    targets = torch.full_like(tokens, IGNORE_INDEX)
    targets[:, 2:] = (tokens[:, :1] - tokens[:, 1:-1]) % vocab_size  # first token minus the previous one
    return tokens, targets


def first_minus_previous_batch(generator, batch_size=64, seq_len=8):
    """Real numbers ``x ~ N(0, 1)``; the target at position ``i >= 2`` is ``x[0] - x[i - 1]``.

    The same two relations as :func:`first_and_previous_batch`, with a real number at each position
    instead of a token. Positions 0 and 1 have no target: NaN, which :func:`masked_mse` skips.

    Returns:
        ``(x [batch_size, seq_len], targets [batch_size, seq_len])``, float32.

    >>> import torch
    >>> x, targets = first_minus_previous_batch(torch.Generator().manual_seed(0), 2, 5)
    >>> torch.equal(targets[:, 2:], x[:, :1] - x[:, 1:-1]), bool(targets[:, :2].isnan().all())
    (True, True)
    """
    _check_sequence_task(generator, batch_size, seq_len)
    x = torch.randn(batch_size, seq_len, generator=generator)
    targets = torch.full_like(x, float("nan"))
    targets[:, 2:] = x[:, :1] - x[:, 1:-1]
    return x, targets


def _check_sequence_task(generator, batch_size, seq_len):
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    checks.check_positive_int("batch_size", batch_size)
    checks.check_positive_int("seq_len", seq_len)
    if seq_len < 3:
        raise ValueError(f"seq_len: expected at least 3 positions (position 2 is the first with a target), got {seq_len}")


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


def masked_mse(model, inputs, targets):
    """Mean squared error of ``model(inputs)[0]`` over the positions whose target is not NaN.

    The signature ``(model, inputs, targets)`` is the ``loss_fn`` of :func:`qkv.train.fit`.

    >>> import torch
    >>> model = MultiHeadReader(vocab_size=None, seq_len=8)
    >>> x, targets = first_minus_previous_batch(torch.Generator().manual_seed(0), 4)
    >>> loss = masked_mse(model, x, targets)          # the NaN targets at positions 0 and 1 are skipped
    >>> loss.shape, bool(loss.isfinite())
    (torch.Size([]), True)
    >>> zero = lambda x: (torch.zeros_like(x), None)  # predicts 0 at every position
    >>> torch.allclose(masked_mse(zero, x, targets), targets[:, 2:].pow(2).mean())
    True
    """
    predictions, _ = model(inputs)
    keep = ~targets.isnan()
    return F.mse_loss(predictions[keep], targets[keep])


@torch.no_grad()
def within_tolerance(model, inputs, targets, tolerance=0.1):
    """Fraction of the positions with a (non-NaN) target where ``|prediction - target| < tolerance``.

    An accuracy for real-valued answers.

    >>> import torch
    >>> model = MultiHeadReader(vocab_size=None, seq_len=8)
    >>> x, targets = first_minus_previous_batch(torch.Generator().manual_seed(0), 4)
    >>> 0.0 <= within_tolerance(model, x, targets) <= 1.0
    True
    """
    predictions, _ = model(inputs)
    keep = ~targets.isnan()
    return ((predictions[keep] - targets[keep]).abs() < tolerance).float().mean().item()
