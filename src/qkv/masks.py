"""Attention masks: boolean, ``True`` = may attend (as in ``F.scaled_dot_product_attention``).

Masks are shaped to broadcast against the attention scores ``[batch, heads, query_len, key_len]``:

- ``padding_mask`` is ``[batch, 1, 1, key_len]``: the same keys are hidden from every head and query;
- ``causal_mask`` is ``[size, size]``: query ``i`` may see keys ``0..i`` in every batch and head;
- ``combine_masks`` ANDs any of them together: a key is visible only if every mask allows it.

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
        if not isinstance(lengths, (list, tuple)) or not all(isinstance(n, int) for n in lengths):
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
