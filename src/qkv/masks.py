"""Attention masks: boolean, ``True`` = may attend (as in ``F.scaled_dot_product_attention``).

Masks are shaped to broadcast against the attention scores ``[batch, heads, query_len, key_len]``:

- ``padding_mask`` is ``[batch, 1, 1, key_len]``: the same keys are hidden from every head and query;
- ``causal_mask`` is ``[size, size]``: query ``i`` may see keys ``0..i`` in every batch and head;
- ``combine_masks`` ANDs any of them together: a key is visible only if every mask allows it.

``find_leaks`` checks that a mask does its job in a whole layer: change an input that an output must
not see, and that output must not change by a single bit.

>>> combine_masks(padding_mask(torch.tensor([2]), max_len=3), causal_mask(3)).int()
tensor([[[[1, 0, 0],
          [1, 1, 0],
          [1, 1, 0]]]], dtype=torch.int32)
"""

import torch

from qkv import checks


def padding_mask(lengths=None, max_len=None, *, tokens=None, pad_id=None):
    """Mask out padding, from sequence lengths or from token ids.

    Give either ``lengths`` (``[batch]`` integers, with an optional ``max_len``, default
    ``max(lengths)``) or ``tokens`` (``[batch, length]`` ids) together with ``pad_id``.

    Returns:
        ``[batch, 1, 1, length]`` bool, ``True`` at real tokens: it broadcasts over heads and queries.

    >>> padding_mask(torch.tensor([3, 1]), max_len=4).squeeze()
    tensor([[ True,  True,  True, False],
            [ True, False, False, False]])
    >>> padding_mask(tokens=torch.tensor([[5, 7, 0]]), pad_id=0).squeeze()
    tensor([ True,  True, False])
    """
    if (lengths is None) == (tokens is None):
        raise ValueError("padding_mask: expected exactly one of lengths or tokens, got "
                         + ("both" if tokens is not None else "neither"))
    if tokens is not None:
        checks.check_integer("tokens", tokens)
        checks.check_ndim("tokens", tokens, 2, "[batch, length]")
        if pad_id is None:
            raise ValueError("pad_id: expected the id of the padding token when tokens is given, got None")
        checks.check_int("pad_id", pad_id)
        if max_len is not None:
            raise ValueError(f"max_len: expected None when tokens is given (the mask has their length), "
                             f"got {max_len!r}")
        return (tokens != pad_id)[:, None, None, :]

    if pad_id is not None:
        raise ValueError(f"pad_id: expected None when lengths is given (it goes with tokens), got {pad_id!r}")
    if not isinstance(lengths, torch.Tensor):
        if not isinstance(lengths, (list, tuple)) or not all(type(n) is int for n in lengths):  # not bool
            raise TypeError(f"lengths: expected a [batch] integer tensor or a list of ints, got {lengths!r}")
        lengths = torch.as_tensor(lengths, dtype=torch.long)
    checks.check_integer("lengths", lengths)
    checks.check_ndim("lengths", lengths, 1, "[batch]")
    if max_len is not None:
        checks.check_int("max_len", max_len, low=0)
    if max_len is None:
        max_len = int(lengths.max()) if lengths.numel() > 0 else 0
    if lengths.numel() > 0 and (lengths.min() < 0 or lengths.max() > max_len):
        raise ValueError(f"lengths: expected values in [0, max_len={max_len}], got {lengths.tolist()}")
    positions = torch.arange(max_len, device=lengths.device)  # [L]
    # Position t is real when t < length: [B, 1] vs [1, L] -> [B, L].
    return (positions[None, :] < lengths[:, None])[:, None, None, :]


def causal_mask(size, device=None):
    """Lower-triangular mask: query ``i`` may attend to keys ``0..i`` and never to the future.

    Returns:
        ``[size, size]`` bool; it broadcasts against scores ``[batch, heads, size, size]``.

    >>> causal_mask(3).int()
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]], dtype=torch.int32)
    """
    checks.check_positive_int("size", size)
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()


def combine_masks(*masks):
    """AND boolean masks together with broadcasting; ``None`` entries are skipped.

    Returns:
        the combined mask (shape: the broadcast of the inputs' shapes), or ``None`` if every mask is None.

    >>> combine_masks(torch.tensor([True, False]), None, torch.tensor([[True], [False]]))
    tensor([[ True, False],
            [False, False]])
    """
    result = None
    for i, mask in enumerate(masks):
        if mask is None:
            continue
        checks.check_bool_tensor(f"masks[{i}]", mask)
        if result is not None and not checks.shapes_broadcast(result.shape, mask.shape):
            raise ValueError(
                f"masks[{i}]: shape {tuple(mask.shape)} does not broadcast with the masks before it, "
                f"shape {tuple(result.shape)}"
            )
        result = mask if result is None else result & mask  # a key stays visible only if every mask allows it
    return result


_SAME_SIZE_INT = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _bits(x):
    """The raw bits of a float tensor, as integers of the same size: equal bits <=> equal numbers, NaN included."""
    return x.contiguous().view(_SAME_SIZE_INT[x.element_size()])


def find_leaks(fn, x, allowed, seed=0):
    """The leak test: which outputs change when an input they must not depend on changes, to the bit.

    Position ``j`` of sequence ``b`` of ``x`` is replaced, alone, by fresh random values, and ``fn`` runs
    again; this is done for every ``(b, j)``. Output ``i`` of sequence ``b`` may change only where
    ``allowed[b, i, j]`` is True, and the outputs of the *other* sequences must not change at all
    (a batch is a set of independent sequences). "Change" means any bit: a correct mask gives a
    masked key a weight of exactly zero, so a leak of 1e-30 is as much a leak as one of 1.

    Args:
        fn: a deterministic function ``x [B, T_in, ...] -> [B, T_out, ...]`` (call ``.eval()`` on a
            module first: dropout changes the output by itself), e.g. ``lambda x: layer(x, mask)[0]``.
        x: ``[B, T_in, ...]`` floating-point input.
        allowed: boolean, broadcastable to ``[B, T_out, T_in]``: True where output ``i`` may depend on
            input ``j`` of the same sequence (``causal_mask(T)`` for a decoder).
        seed: seed of the replacement values.

    Returns:
        ``[B, T_out, T_in]`` bool, True where output ``(b, i)`` changed when position ``j`` changed
        although it must not (position ``j`` of sequence ``b``, or of any other sequence). All False:
        no leak.

    >>> cumsum = lambda x: x.cumsum(dim=1)            # output i depends on inputs 0..i
    >>> find_leaks(cumsum, torch.randn(1, 3), causal_mask(3)).any().item()
    False
    >>> find_leaks(cumsum, torch.randn(1, 3), torch.eye(3, dtype=torch.bool)).int()[0]
    tensor([[0, 0, 0],
            [1, 0, 0],
            [1, 1, 0]], dtype=torch.int32)
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a function of x, got {type(fn).__name__}")
    checks.check_float("x", x)
    checks.check_min_ndim("x", x, 2, "[batch, length, ...]")
    checks.check_bool_tensor("allowed", allowed)
    checks.check_int("seed", seed, 0, 2**63 - 1)
    B, T_in = x.shape[:2]
    with torch.no_grad():
        base = fn(x)
        checks.check_tensor("fn(x)", base)
        checks.check_min_ndim("fn(x)", base, 2, "[batch, length, ...]")
        checks.check_size("fn(x)", base, 0, B, "the batch size of x")
        if not torch.equal(_bits(fn(x)), _bits(base)):
            raise ValueError("fn: expected a deterministic function (two calls on the same x differ; "
                             "is dropout on? call .eval())")
        T_out = base.size(1)
        if allowed.dim() > 3 or not checks.broadcasts_to(allowed.shape, (B, T_out, T_in)):
            raise ValueError(f"allowed: shape {tuple(allowed.shape)} does not broadcast to "
                             f"[B, T_out, T_in] = {(B, T_out, T_in)}")
        allowed = allowed.expand(B, T_out, T_in).to(x.device)
        generator = torch.Generator(device=x.device).manual_seed(seed)
        base_bits = _bits(base).reshape(B, T_out, -1)  # [B, T_out, rest]
        leaks = torch.zeros(B, T_out, T_in, dtype=torch.bool, device=x.device)
        for b in range(B):
            for j in range(T_in):
                changed_x = x.clone()
                changed_x[b, j] = torch.randn(x.shape[2:], generator=generator, device=x.device).to(x.dtype)
                changed = (_bits(fn(changed_x)).reshape(B, T_out, -1) != base_bits).any(-1)  # [B, T_out]
                may_change = torch.zeros_like(changed)
                may_change[b] = allowed[b, :, j]  # only sequence b, only where allowed
                leaks[:, :, j] |= changed & ~may_change
    return leaks


def sliding_window_mask(size, window, causal=True, device=None):
    """Local attention: query ``i`` may see only the ``window`` keys nearest to it.

    Causal (``causal=True``, as in Mistral 7B): keys ``i - window + 1 .. i``, the query's own position
    included. Otherwise (as in Longformer's local attention): keys ``j`` with ``|i - j| < window``.
    Each layer sees ``window`` positions, but layer ``n`` reads outputs of layer ``n - 1`` that saw
    further back, so ``L`` causal layers reach ``L * (window - 1)`` positions back.

    Returns:
        ``[size, size]`` bool; it broadcasts against scores ``[batch, heads, size, size]``.

    >>> sliding_window_mask(4, 2).int()
    tensor([[1, 0, 0, 0],
            [1, 1, 0, 0],
            [0, 1, 1, 0],
            [0, 0, 1, 1]], dtype=torch.int32)
    """
    checks.check_positive_int("size", size)
    checks.check_positive_int("window", window)
    checks.check_flag("causal", causal)
    offset = torch.arange(size, device=device)[:, None] - torch.arange(size, device=device)[None, :]  # i - j
    if causal:
        return (offset >= 0) & (offset < window)
    return offset.abs() < window
