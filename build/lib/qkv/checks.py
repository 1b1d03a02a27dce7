"""Argument checks shared by every module: one function per kind of check, one message style.

Each helper raises ``ValueError`` or ``TypeError`` with a message ``"{name}: expected ..., got ..."``
that names the argument and says what was expected and what was received, so a wrong input fails on
the line that passed it rather than deep inside a matrix multiplication. Every module calls these in
one line each.

- Tensors: :func:`check_tensor`, :func:`check_float`, :func:`check_integer`, :func:`check_bool_tensor`
  (masks), :func:`check_token_ids`, and their shapes (:func:`check_ndim`, :func:`check_size`, ...).
- Python values: :func:`check_flag` (a bool), :func:`check_int` (an int, optionally in a range),
  :func:`check_positive_int` (sizes), :func:`check_number` (a real number, optionally in a range),
  :func:`check_probability`, :func:`check_str`, :func:`check_choice`, :func:`check_generator`.
- Modules: :func:`check_module_dtype` (an input in the dtype of the weights it meets),
  :func:`check_shape` (a state of one exact shape), :func:`check_pair` (an ``(h, c)`` state).
  These return the checked value (as a plain ``int`` or ``bool``), so a caller can check and assign
  in one line.

>>> check_float("query", torch.zeros(2, 3, dtype=torch.long))
Traceback (most recent call last):
    ...
TypeError: query: expected a floating-point tensor, got torch.int64
"""

import numbers

import numpy as np
import torch


def check_tensor(name, x):
    """Raise ``TypeError`` unless ``x`` is a ``torch.Tensor``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")


def check_float(name, x):
    """Raise ``TypeError`` unless ``x`` is a floating-point tensor (softmax and gradients need floats)."""
    check_tensor(name, x)
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got {x.dtype}")


def check_integer(name, x):
    """Raise ``TypeError`` unless ``x`` is an integer tensor (token ids, lengths)."""
    check_tensor(name, x)
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name}: expected an integer tensor, got {x.dtype}")


def check_token_ids(name, tokens, vocab_size):
    """Raise unless ``tokens`` is an integer tensor of ids in ``[0, vocab_size)``."""
    check_integer(name, tokens)
    if tokens.numel() > 0 and (tokens.min() < 0 or tokens.max() >= vocab_size):
        raise ValueError(
            f"{name}: expected ids in [0, vocab_size={vocab_size}), got ids from {int(tokens.min())} "
            f"to {int(tokens.max())}"
        )


def check_bool_tensor(name, mask):
    """Raise ``TypeError`` unless ``mask`` is a boolean tensor (masks: True = may attend)."""
    check_tensor(name, mask)
    if mask.dtype != torch.bool:
        raise TypeError(f"{name}: expected a boolean tensor (True = may attend), got {mask.dtype}")


def check_no_nan(name, x):
    """Raise ``ValueError`` if ``x`` holds a NaN (a score or probability that cannot be ranked)."""
    check_tensor(name, x)
    if x.is_floating_point() and bool(x.isnan().any()):
        where = tuple(int(i) for i in x.isnan().nonzero()[0])
        raise ValueError(f"{name}: expected no NaN, got NaN at index {where} of shape {tuple(x.shape)}")


def check_module_dtype(name, x, dtype, low_precision_ok=False):
    """Raise ``TypeError`` unless ``x`` has the dtype ``dtype`` of the weights it will meet.

    With ``low_precision_ok`` a float16 or bfloat16 ``x`` may also meet float32 weights, as PyTorch's
    LayerNorm and BatchNorm1d allow (they compute in float32 and return the input's dtype).
    """
    if x.dtype == dtype or (low_precision_ok and dtype == torch.float32 and x.dtype in (torch.float16,
                                                                                        torch.bfloat16)):
        return
    also = " (or float16/bfloat16)" if low_precision_ok and dtype == torch.float32 else ""
    raise TypeError(f"{name}: expected dtype {dtype}{also} (the dtype of the module's weights), got {x.dtype}")


def check_shape(name, x, shape, layout):
    """Raise ``ValueError`` unless ``x`` (a tensor) has exactly the shape ``shape``, described by ``layout``."""
    check_tensor(name, x)
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)} {layout}, got {tuple(x.shape)}")


def check_pair(name, value, what):
    """Raise ``TypeError`` unless ``value`` is a tuple or list of two items, e.g. an LSTM state ``(h, c)``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        got = f"{type(value).__name__} of length {len(value)}" if isinstance(value, (tuple, list)) else type(
            value).__name__
        raise TypeError(f"{name}: expected a pair {what}, got {got}")


def check_same_dtype(name, x, ref_name, ref):
    """Raise ``TypeError`` unless ``x`` has the same dtype as ``ref``."""
    if x.dtype != ref.dtype:
        raise TypeError(f"{name}: expected dtype {ref.dtype} (the dtype of {ref_name}), got {x.dtype}")


def check_ndim(name, x, ndim, layout):
    """Raise ``ValueError`` unless ``x.dim()`` is ``ndim`` (an int or a tuple of allowed ints).

    ``layout`` describes the expected layout in words, e.g. ``"[batch, length, d_model]"``.
    """
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.dim() not in allowed:
        n = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{name}: expected {n} dimensions {layout}, got shape {tuple(x.shape)}")


def check_min_ndim(name, x, ndim, layout):
    """Raise ``ValueError`` unless ``x`` has at least ``ndim`` dimensions."""
    if x.dim() < ndim:
        raise ValueError(f"{name}: expected at least {ndim} dimensions {layout}, got shape {tuple(x.shape)}")


def check_size(name, x, dim, size, what):
    """Raise ``ValueError`` unless ``x.size(dim) == size``; ``what`` names the size, e.g. ``"d_model"``."""
    if x.size(dim) != size:
        where = "last dimension" if dim == -1 else f"dimension {dim}"
        raise ValueError(f"{name}: expected {where} of size {size} ({what}), got shape {tuple(x.shape)}")


def check_nonempty(name, x, dim):
    """Raise ``ValueError`` if ``x`` has no positions along ``dim`` (an empty sequence)."""
    if x.size(dim) == 0:
        raise ValueError(f"{name}: expected a non-empty sequence, got length 0 in shape {tuple(x.shape)}")


def check_max_length(name, x, max_len, dim=1):
    """Raise ``ValueError`` if the sequence is longer than a positional table of ``max_len`` rows."""
    if x.size(dim) > max_len:
        raise ValueError(
            f"{name}: sequence length {x.size(dim)} is longer than the positional table (max_len={max_len}), "
            f"got shape {tuple(x.shape)}"
        )


def broadcasts_to(shape, target):
    """True if a tensor of ``shape`` broadcasts to exactly ``target`` (trailing dims equal or 1)."""
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(reversed(tuple(shape)), reversed(tuple(target))))


def shapes_broadcast(a, b):
    """True if tensors of shapes ``a`` and ``b`` broadcast together."""
    return all(s == t or 1 in (s, t) for s, t in zip(reversed(tuple(a)), reversed(tuple(b))))


def check_batch_dims(name, x, ref_name, ref):
    """Raise ``ValueError`` unless the leading (batch) dimensions of ``x`` and ``ref`` broadcast together.

    Both are ``[..., length, features]``; only the ``...`` part is compared.
    """
    a, b = tuple(x.shape[:-2]), tuple(ref.shape[:-2])
    if not shapes_broadcast(a, b):
        raise ValueError(f"{name}: batch dimensions {a} do not broadcast with those of {ref_name}, {b}")


def check_attention_inputs(query, key, value, same_d_k=True):
    """Check ``query [..., Lq, d_k]``, ``key [..., Lk, d_k]``, ``value [..., Lk, d_v]`` for attention.

    All floating point with one dtype, non-empty, keys and values of the same length, batch
    dimensions that broadcast and (for dot-product attention, ``same_d_k``) one ``d_k``.
    """
    for name, x in (("query", query), ("key", key), ("value", value)):
        check_float(name, x)
        check_min_ndim(name, x, 2, "[..., length, features]")
        check_nonempty(name, x, -2)
    check_same_dtype("key", key, "query", query)
    check_same_dtype("value", value, "query", query)
    if same_d_k:
        check_size("key", key, -1, query.size(-1), "the d_k of query")
    check_size("value", value, -2, key.size(-2), "the length of key")
    check_batch_dims("key", key, "query", query)
    check_batch_dims("value", value, "key", key)


def check_mask(name, mask, scores_shape):
    """Raise unless ``mask`` is boolean (True = may attend) and broadcasts to ``scores_shape``; None passes."""
    if mask is None:
        return
    check_bool_tensor(name, mask)
    if not broadcasts_to(mask.shape, scores_shape):
        raise ValueError(
            f"{name}: shape {tuple(mask.shape)} does not broadcast to scores of shape {tuple(scores_shape)}"
        )


def check_bias(name, bias, scores_shape):
    """Raise unless ``bias`` is a floating-point tensor that broadcasts to ``scores_shape``."""
    check_float(name, bias)
    if not broadcasts_to(bias.shape, scores_shape):
        raise ValueError(
            f"{name}: shape {tuple(bias.shape)} does not broadcast to scores of shape {tuple(scores_shape)}"
        )


def check_positive_int(name, value):
    """Return ``value`` as an ``int`` if it is a positive integer (sizes, counts, lengths); else raise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected a positive integer, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value}")
    return int(value)


def check_number(name, value, low=None, high=None, low_open=False):
    """Return ``value`` as a ``float`` if it is a real number (not a bool, not NaN) in range; else raise.

    ``low`` and ``high`` are inclusive bounds (``low_open=True`` makes ``low`` exclusive: ``value > low``).
    ``TypeError`` for a non-number (a str, None, a tensor), ``ValueError`` for NaN or a value out of range.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    if value != value or too_low or (high is not None and value > high):
        parts = ([f"> {low}" if low_open else f">= {low}"] if low is not None else []) + (
            [f"<= {high}"] if high is not None else [])
        raise ValueError(f"{name}: expected a number{' ' + ' and '.join(parts) if parts else ''}, got {value}")
    return value


def check_divisible(name, value, divisor_name, divisor):
    """Raise ``ValueError`` unless ``value`` is a multiple of ``divisor``."""
    if value % divisor != 0:
        raise ValueError(f"{name}: expected a multiple of {divisor} ({divisor_name}), got {value}")


def check_probability(name, p):
    """Return ``p`` as a ``float`` if ``0 <= p < 1`` (dropout rates); else raise."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name}: expected a probability in [0, 1), got {type(p).__name__} {p!r}")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1), got {p}")
    return float(p)


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices`` (compared by type and value); else raise ``ValueError``."""
    if not any(type(value) is type(c) and value == c for c in choices):
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_flag(name, value):
    """Return ``value`` as a ``bool`` if it is a Python (or numpy) bool; else raise ``TypeError``.

    A flag must be ``True`` or ``False``, not ``1`` or ``"yes"``.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def check_int(name, value, low=None, high=None):
    """Return ``value`` as an ``int`` if it is an integer (not a bool) in ``[low, high]``; else raise.

    ``low`` and ``high`` are optional inclusive bounds. ``TypeError`` for a non-integer, ``ValueError``
    for one out of range.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    if low is not None and high is not None:
        if not low <= value <= high:
            raise ValueError(f"{name}: expected an int in [{low}, {high}], got {value}")
    elif low is not None and value < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {value}")
    elif high is not None and value > high:
        raise ValueError(f"{name}: expected an int <= {high}, got {value}")
    return int(value)


def check_str(name, value):
    """Return ``value`` if it is a ``str``; else raise ``TypeError``."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a str, got {type(value).__name__} {value!r}")
    return value


def check_generator(name, generator):
    """Raise ``TypeError`` unless ``generator`` is a ``torch.Generator`` (the seeded source of a task)."""
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{name}: expected a torch.Generator, got {type(generator).__name__}")
