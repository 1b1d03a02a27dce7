"""Toy tasks: seeded random sequences and the targets a tiny model must learn to produce.

Each task draws its sequences from a ``torch.Generator``, so a chapter that trains on it prints the
same numbers on every build, and each has the signature ``batch_fn(generator, ...) -> (inputs,
targets)`` that :func:`qkv.train.fit` calls once per step.

Where things go: a task (how the sequences and their targets are drawn) belongs here; the model
trained on it in :mod:`qkv.toy_models`; its loss and its accuracy in :mod:`qkv.train`, next to ``fit``.

Tasks with token targets (class ids, ``IGNORE_INDEX`` where a position has none), scored with
:func:`qkv.train.token_cross_entropy` and :func:`qkv.train.token_accuracy`:

- :func:`previous_token_batch`: every position must copy the token to its left.
- :func:`key_value_lookup_batch`: find the value of the key that matches a query.
- :func:`first_and_previous_batch`: the first token minus the previous one, modulo the vocabulary.
- :func:`copy_back_batch`: every position copies the token ``offset`` places to its left, at any length
  (a relative position: chapter 5's length-generalisation experiment).
- :func:`token_at_batch`: every position copies the token at one fixed position (an absolute position).
- :func:`recall_batch`: the last position recalls the first token across ``distance`` steps of noise
  (chapter 8's long-range task for recurrent networks and attention).
- :func:`reversal_batch`: a sequence-to-sequence task, write the source digits reversed (chapter 9's
  encoder-decoder; it returns the decoder's input and output, not ``(inputs, targets)``).

Tasks with real-valued targets (NaN where a position has none), scored with
:func:`qkv.train.masked_mse` and :func:`qkv.train.within_tolerance`:

- :func:`first_minus_previous_batch`: the first number minus the previous one.
"""

from __future__ import annotations

import torch

from qkv import checks

IGNORE_INDEX = -100  # a target that the loss and the accuracy skip (PyTorch's cross-entropy default)


# ---------------------------------------------------------------------------------------------------
# Token targets


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
    checks.check_generator("generator", generator)
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len), ("vocab_size", vocab_size)):
        checks.check_positive_int(name, value)
    checks.check_flag("ring", ring)
    if seq_len < 2:
        raise ValueError(f"seq_len: expected at least 2 positions (one needs a left neighbour), got {seq_len}")
    tokens = torch.randint(vocab_size, (batch_size, seq_len), generator=generator)
    targets = tokens.roll(1, dims=1)  # targets[:, i] = tokens[:, i - 1]; position 0 gets the last token
    if not ring:
        targets[:, 0] = IGNORE_INDEX
    return tokens, targets


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
        The targets have one position, like the query, so :func:`qkv.train.token_cross_entropy` and
        :func:`qkv.train.token_accuracy` apply to :class:`qkv.toy_models.LookupAttention`.

    >>> import torch
    >>> (keys, values, query), target = key_value_lookup_batch(torch.Generator().manual_seed(0), 4)
    >>> keys.shape, values.shape, query.shape, target.shape
    (torch.Size([4, 8]), torch.Size([4, 8]), torch.Size([4, 1]), torch.Size([4, 1]))
    >>> hit = keys == query                            # exactly one key matches the query
    >>> bool((hit.sum(1) == 1).all()), bool((values[hit] == target[:, 0]).all())
    (True, True)
    """
    checks.check_generator("generator", generator)
    for name, value in (("batch_size", batch_size), ("num_pairs", num_pairs), ("num_symbols", num_symbols),
                        ("num_values", num_values)):
        checks.check_positive_int(name, value)
    if num_pairs > num_symbols:
        raise ValueError(f"num_pairs: expected at most num_symbols = {num_symbols} (keys are distinct), "
                         f"got {num_pairs}")
    # a random permutation of the symbols per row; its first num_pairs entries are distinct keys
    keys = torch.rand(batch_size, num_symbols, generator=generator).argsort(dim=1)[:, :num_pairs]
    values = torch.randint(num_values, (batch_size, num_pairs), generator=generator)
    pick = torch.randint(num_pairs, (batch_size, 1), generator=generator)  # which pair is asked for
    return (keys, values, keys.gather(1, pick)), values.gather(1, pick)


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


def copy_back_batch(generator, batch_size=64, seq_len=16, vocab_size=16, offset=2):
    """Random tokens; the target at position ``i >= offset`` is the token ``offset`` places back.

    The answer is always at the same *relative* position (``i - offset``), whatever the length of the
    sequence, so a model that finds it by the offset works at every length, and one that learned each
    absolute position separately only at the lengths it was trained on. The first ``offset``
    positions have no such token: their target is ``IGNORE_INDEX``.

    Args:
        generator: a ``torch.Generator``.
        batch_size, seq_len, vocab_size, offset: positive ints, ``seq_len > offset``.

    Returns:
        ``(tokens [batch_size, seq_len], targets [batch_size, seq_len])``, int64.

    >>> import torch
    >>> tokens, targets = copy_back_batch(torch.Generator().manual_seed(0), 2, 6, 10, offset=2)
    >>> bool((targets[:, 2:] == tokens[:, :-2]).all()), targets[0, :2].tolist()
    (True, [-100, -100])
    """
    checks.check_generator("generator", generator)
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len), ("vocab_size", vocab_size),
                        ("offset", offset)):
        checks.check_positive_int(name, value)
    if seq_len <= offset:
        raise ValueError(f"seq_len: expected more than offset = {offset} positions (one needs a target), "
                         f"got {seq_len}")
    tokens = torch.randint(vocab_size, (batch_size, seq_len), generator=generator)
    targets = torch.full_like(tokens, IGNORE_INDEX)
    targets[:, offset:] = tokens[:, :-offset]  # targets[:, i] = tokens[:, i - offset]
    return tokens, targets


def token_at_batch(generator, batch_size=64, seq_len=16, vocab_size=16, position=2):
    """Random tokens; the target at every position ``i >= position`` is the token at ``position``.

    The answer is at one *absolute* position, so its offset from the query changes with the query.
    Positions before ``position`` (which a causal model cannot see it from) get ``IGNORE_INDEX``.

    Returns:
        ``(tokens [batch_size, seq_len], targets [batch_size, seq_len])``, int64.

    >>> import torch
    >>> tokens, targets = token_at_batch(torch.Generator().manual_seed(0), 2, 6, 10, position=2)
    >>> bool((targets[:, 2:] == tokens[:, 2:3]).all()), targets[0, :2].tolist()
    (True, [-100, -100])
    """
    checks.check_generator("generator", generator)
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len), ("vocab_size", vocab_size)):
        checks.check_positive_int(name, value)
    checks.check_int("position", position, 0)
    if seq_len <= position:
        raise ValueError(f"seq_len: expected more than position = {position} positions, got {seq_len}")
    tokens = torch.randint(vocab_size, (batch_size, seq_len), generator=generator)
    targets = torch.full_like(tokens, IGNORE_INDEX)
    targets[:, position:] = tokens[:, position : position + 1]
    return tokens, targets


def recall_batch(generator, batch_size=64, distance=16, num_symbols=8, num_noise=8):
    """A symbol, ``distance - 1`` noise tokens, then a query: the target at the query is the symbol.

    Token ids: symbols ``[0, num_symbols)``, noise ``[num_symbols, num_symbols + num_noise)`` and one
    query token ``num_symbols + num_noise`` (:func:`recall_vocab_size` gives the total). Each sequence
    has ``distance + 1`` tokens; the symbol to recall is at position 0, the query at position
    ``distance``, so a recurrent network must carry the symbol across ``distance`` steps, while
    attention reaches it in one. Only the query position has a target (the others get
    ``IGNORE_INDEX``); guessing scores ``1 / num_symbols``.

    Returns:
        ``(tokens [batch_size, distance + 1], targets [batch_size, distance + 1])``, int64.

    >>> import torch
    >>> tokens, targets = recall_batch(torch.Generator().manual_seed(0), 2, distance=4)
    >>> tokens.shape, bool((targets[:, -1] == tokens[:, 0]).all()), targets[0, :-1].tolist(), tokens[0, -1].item()
    (torch.Size([2, 5]), True, [-100, -100, -100, -100], 16)
    """
    checks.check_generator("generator", generator)
    for name, value in (("batch_size", batch_size), ("distance", distance), ("num_symbols", num_symbols),
                        ("num_noise", num_noise)):
        checks.check_positive_int(name, value)
    symbol = torch.randint(num_symbols, (batch_size, 1), generator=generator)
    noise = torch.randint(num_symbols, num_symbols + num_noise, (batch_size, distance - 1), generator=generator)
    query = torch.full((batch_size, 1), num_symbols + num_noise)
    tokens = torch.cat([symbol, noise, query], dim=1)
    targets = torch.full_like(tokens, IGNORE_INDEX)
    targets[:, -1] = symbol[:, 0]
    return tokens, targets


def recall_vocab_size(num_symbols=8, num_noise=8):
    """The number of token ids :func:`recall_batch` uses: the symbols, the noise and one query token.

    >>> recall_vocab_size(8, 8)
    17
    """
    checks.check_positive_int("num_symbols", num_symbols)
    checks.check_positive_int("num_noise", num_noise)
    return num_symbols + num_noise + 1


def reversal_batch(generator, batch_size=64, seq_len=8):
    """Random digits and the same digits reversed, framed for an encoder-decoder trained by teacher forcing.

    Token ids: 0 is the begin-of-sequence token, 1 the end-of-sequence token, digit ``k`` is ``k + 2``
    (12 ids in all). The decoder reads ``tgt_in`` (BOS, then the reversed digits) and must predict
    ``tgt_out`` (the reversed digits, then EOS), the same sequence shifted by one.

    Returns:
        ``(src [batch_size, seq_len], tgt_in [batch_size, seq_len + 1], tgt_out [batch_size, seq_len + 1])``,
        int64.

    >>> import torch
    >>> src, tgt_in, tgt_out = reversal_batch(torch.Generator().manual_seed(0), 1, 3)
    >>> torch.equal(tgt_out[:, :-1], src.flip(1)), tgt_in[0, 0].item(), tgt_out[0, -1].item()
    (True, 0, 1)
    """
    _check_sequence_task(generator, batch_size, seq_len)
    src = torch.randint(10, (batch_size, seq_len), generator=generator) + 2  # [B, L]: digits are ids 2..11
    reversed_ = src.flip(1)
    tgt_in = torch.cat([torch.zeros(batch_size, 1, dtype=torch.long), reversed_], dim=1)  # [B, L + 1]: BOS first
    tgt_out = torch.cat([reversed_, torch.ones(batch_size, 1, dtype=torch.long)], dim=1)  # [B, L + 1]: EOS last
    return src, tgt_in, tgt_out


# ---------------------------------------------------------------------------------------------------
# Real-valued targets


def first_minus_previous_batch(generator, batch_size=64, seq_len=8):
    """Real numbers ``x ~ N(0, 1)``; the target at position ``i >= 2`` is ``x[0] - x[i - 1]``.

    The same two relations as :func:`first_and_previous_batch`, with a real number at each position
    instead of a token. Positions 0 and 1 have no target: NaN, which :func:`qkv.train.masked_mse` skips.

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
    checks.check_generator("generator", generator)
    checks.check_positive_int("batch_size", batch_size)
    checks.check_positive_int("seq_len", seq_len)
    if seq_len < 3:
        raise ValueError(f"seq_len: expected at least 3 positions (position 2 is the first with a target), "
                         f"got {seq_len}")
